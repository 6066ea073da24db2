import Foundation
import Testing
import SyncTestSupport
@testable import SyncGit

@Suite struct TreeNameTests {
    let dir = NSTemporaryDirectory() + "sync-treename-" + UUID().uuidString

    /// Names libgit2 refuses as tree entries here, names git refuses on macOS (HFS+) or as other
    /// NTFS short names (escaped too, so the history checks out there), and neighbours it takes.
    static let refused = [".git", ".GIT", ".Git", ".gIt", "git~1", "GIT~1", ".git.", ".git..", ".git ", ".git . .",
                          ".git:stream", ".git::$INDEX_ALLOCATION", ".git\\x"]
    static let refusedElsewhere = ["Git~4", "\u{200C}.git", ".g\u{200D}it", ".git\u{FEFF}", "\u{202E}.G\u{206A}IT"]
    static let accepted = [".gitignore", ".gitmodules", ".gitattributes", ".git-blame-ignore-revs", "git", "git~", "gitx~1",
                           ".git.orig", ".git x", "%", "%2Egit", "%25", "a%2Eb", "50%", "plain name", "é.git", "日本語",
                           "line\nbreak", "tab\there", " lead", "trail ", "\\back\\slash", ":colon:"]

    /// Whether libgit2 takes `name` unescaped as a tree entry.
    func gitTakes(_ name: String, _ r: HistoryRepository, _ blob: ObjectID) -> Bool {
        (try? r.tree(from: nil, applyingStored: [.upsert(path: name, id: blob, mode: .file)])) != nil
    }

    @Test func everyNameGitRefusesIsEscapedAndEveryEscapeIsTakenAndReadBack() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try HistoryRepository.create(at: dir + "/h.git", worktree: dir + "/w")
        let blob = try r.writeBlob(Array("x".utf8))
        for name in Self.refused {
            #expect(!gitTakes(name, r, blob), "libgit2 takes \(name.debugDescription): the list is wrong")
            #expect(TreeName.needsEscape(name), "\(name.debugDescription) not escaped")
        }
        for name in Self.refusedElsewhere { #expect(TreeName.needsEscape(name), "\(name.debugDescription) not escaped") }
        for name in Self.accepted { #expect(!TreeName.needsEscape(name) || name.hasPrefix("%"), "\(name.debugDescription) escaped") }
        for name in Self.refused + Self.refusedElsewhere + Self.accepted {
            let stored = TreeName.escape(name)
            #expect(gitTakes(stored, r, blob), "escaped \(name.debugDescription) as \(stored.debugDescription), still refused")
            #expect(TreeName.unescape(stored) == name)
            #expect(TreeName.unescape(path: TreeName.escape(path: "a/\(name)/b")) == "a/\(name)/b")
        }
        #expect(TreeName.escape(".git") == "%2Egit")
        #expect(TreeName.escape("git~1") == "%67it~1")
        #expect(TreeName.escape("%2Egit") == "%252Egit")
        #expect(TreeName.escape("README") == "README")
    }

    /// Random names built from the pieces git's rules look at: libgit2 refuses none after the
    /// escape, every name it refuses is escaped, and every name reads back the same.
    @Test(arguments: [1, 2, 3, 20_261_129])
    func randomNamesRoundTripAndSatisfyLibgit2(seed: UInt64) throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try HistoryRepository.create(at: dir + "/h.git", worktree: dir + "/w")
        let blob = try r.writeBlob(Array("x".utf8))
        var rng = SplitMix(seed)
        let pieces = [".", "g", "G", "i", "I", "t", "T", "git", ".git", "~", "1", "4", "9", " ", ":", "\\", "%", "%2E",
                      "\u{200C}", "\u{FEFF}", "é", "a", "-", "modules"]
        for _ in 0..<2000 {
            let n = Int.random(in: 1...6, using: &rng)
            let name = (0..<n).map { _ in pieces.randomElement(using: &rng)! }.joined()
            guard name != ".", name != ".." else { continue }
            if !gitTakes(name, r, blob) { #expect(TreeName.needsEscape(name), "libgit2 refuses \(name.debugDescription), not escaped") }
            let stored = TreeName.escape(name)
            #expect(gitTakes(stored, r, blob), "\(name.debugDescription) stored as \(stored.debugDescription) is refused")
            #expect(TreeName.unescape(stored) == name)
        }
    }

    @Test func historyTakesRefusedNamesAndGivesBackRealNames() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try HistoryRepository.create(at: dir + "/h.git", worktree: dir + "/w")
        let a = try r.writeBlob(Array("one\n".utf8)), b = try r.writeBlob(Array("two\n".utf8))
        let t1 = try r.tree(from: nil, applying: [.upsert(path: "p/.git/config", id: a, mode: .file),
                                                 .upsert(path: "GIT~1", id: a, mode: .file),
                                                 .upsert(path: "%odd", id: a, mode: .file)])
        var seen: [String] = []
        try r.walk(tree: t1) { p, _, _ in seen.append(p) }
        #expect(seen.sorted() == ["%odd", "GIT~1", "p/.git/config"])
        #expect(try r.entry(inTree: t1, path: "p/.git/config")?.id == a)
        let t2 = try r.tree(from: t1, applying: [.upsert(path: "p/.git/config", id: b, mode: .file), .remove(path: "GIT~1")])
        #expect(try r.entry(inTree: t2, path: "GIT~1") == nil)
        let (patch, files) = try r.diff(from: t1, to: t2, paths: ["p/.git"])
        #expect(files.map(\.newPath) == ["p/.git/config"])
        #expect(patch.contains("+++ b/p/.git/config"))
        #expect(!patch.contains("%2E"))
    }
}
