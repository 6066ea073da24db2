import Foundation
import Testing
@testable import SyncCore

@Suite struct FolderIndexTests {
    @Test func recordsChangesWithGrowingSequences() throws {
        let dir = try TemporaryDirectory()
        let index = try FolderIndex(path: dir.path + "/index.db")
        let node = try NodeID(String(repeating: "c", count: 52))
        let a = FileEntry(path: try RelativePath("a"), kind: .file, hash: String(repeating: "0", count: 40), size: 3,
                          version: VersionVector().bumped(by: node))
        let b = FileEntry(path: try RelativePath("d/b"), kind: .file, hash: String(repeating: "1", count: 40), size: 4,
                          version: VersionVector().bumped(by: node))
        #expect(try index.record(changes: [a, b], commit: "c1") == 2)
        #expect(try index.sequence() == 2)
        #expect(try index.entry(RelativePath("d/b"))?.sequence == 2)
        var a2 = a
        a2.deleted = true
        #expect(try index.record(changes: [a2], commit: "c2") == 3)
        #expect(try index.entries(since: 2).map(\.path.rawValue) == ["a"])
        #expect(try index.totals().files == 1)
        #expect(try index.meta("commit") == "c2")
        #expect(try index.entries(under: RelativePath("d")).count == 1)
        // Reopened, it holds the same.
        let again = try FolderIndex(path: dir.path + "/index.db")
        #expect(try again.allEntries().count == 2)
    }

    /// A served file's one question: the size of a live file with that content, nil for anything else.
    @Test func aServedFileIsALiveFileWithThatContent() throws {
        let dir = try TemporaryDirectory()
        let index = try FolderIndex(path: dir.path + "/index.db")
        let v = VersionVector().bumped(by: try NodeID(String(repeating: "c", count: 52)))
        let h0 = String(repeating: "0", count: 40), h1 = String(repeating: "1", count: 40)
        try index.record(changes: [
            FileEntry(path: try RelativePath("f"), kind: .file, hash: h0, size: Int64.max, version: v),
            FileEntry(path: try RelativePath("gone"), kind: .file, hash: h0, size: 3, deleted: true, version: v),
            FileEntry(path: try RelativePath("link"), kind: .symlink, hash: h0, size: 0, symlinkTarget: "f", version: v),
            FileEntry(path: try RelativePath("d"), kind: .directory, size: 0, version: v),
        ], commit: "c1")
        #expect(try index.servedSize(RelativePath("f"), hash: h0) == Int64.max)
        #expect(try index.servedSize(RelativePath("f"), hash: h1) == nil)
        #expect(try index.servedSize(RelativePath("gone"), hash: h0) == nil)
        #expect(try index.servedSize(RelativePath("link"), hash: h0) == nil)
        #expect(try index.servedSize(RelativePath("d"), hash: h0) == nil)
        #expect(try index.servedSize(RelativePath("missing"), hash: h0) == nil)
    }

    /// The rows under a path are exactly those below it, whatever sorts beside it, and they are
    /// found through the path key: a pass over every row per path made a pull of n files cost n².
    @Test func rowsUnderAPathComeFromThePathKey() throws {
        let dir = try TemporaryDirectory()
        let index = try FolderIndex(path: dir.path + "/index.db")
        let node = try NodeID(String(repeating: "c", count: 52))
        let names = ["c", "d", "d/b", "d/e/f", "d-x", "d.x", "d0", "dd", "d\u{7f}", "dé/x", "e"]
        let rows = try names.map { FileEntry(path: try RelativePath($0), kind: .file, hash: String(repeating: "0", count: 40),
                                             size: 1, version: VersionVector().bumped(by: node)) }
        try index.record(changes: rows, commit: "c1")
        #expect(try index.entries(under: RelativePath("d")).map(\.path.rawValue) == ["d", "d/b", "d/e/f"])
        #expect(try index.entries(under: RelativePath("d/e")).map(\.path.rawValue) == ["d/e/f"])
        #expect(try index.entries(under: RelativePath("dé")).map(\.path.rawValue) == ["dé/x"])
        #expect(try index.entries(under: RelativePath("x")).isEmpty)
        let plan = try index.queryPlan(FolderIndex.underSQL, FolderIndex.underArguments(try RelativePath("d")))
        #expect(!plan.isEmpty && !plan.contains { $0.hasPrefix("SCAN files") }, "\(plan)")
        // The scan's pages of stat rows: in path order (bytes), each a search in the path key.
        var paged: [String] = []
        var after: RelativePath?
        while case let page = try index.stats(after: after, limit: 3), !page.isEmpty {
            paged += page.map(\.0.rawValue)
            after = page.last?.0
        }
        #expect(paged == names.sorted { RelativePath.bytesPrecede($0, $1) })
        let pages = try index.queryPlan(FolderIndex.statsSQL, ["d", 3])
        #expect(!pages.isEmpty && !pages.contains { $0.hasPrefix("SCAN files") || $0.contains("TEMP B-TREE") }, "\(pages)")
    }

    @Test func heldHashesAreThoseOfLiveFiles() throws {
        let dir = try TemporaryDirectory()
        let index = try FolderIndex(path: dir.path + "/index.db")
        let node = try NodeID(String(repeating: "c", count: 52))
        func row(_ p: String, _ h: Character, deleted: Bool = false) throws -> FileEntry {
            FileEntry(path: try RelativePath(p), kind: .file, hash: String(repeating: h, count: 40), size: 1,
                      deleted: deleted, version: VersionVector().bumped(by: node))
        }
        try index.record(changes: [row("a", "1"), row("b", "1"), row("c", "2", deleted: true), row("d", "3")], commit: "c1")
        let asked = ["1", "2", "4"].map { String(repeating: $0, count: 40) } + (0..<1200).map { String(format: "%040x", $0 + 0x100) }
        #expect(try index.heldHashes(asked) == [String(repeating: "1", count: 40)])
        #expect(try index.heldHashes([]).isEmpty)
    }

    @Test func aRenamesTwoRowsAreKeptSideBySide() throws {
        func row(_ p: String, _ kind: FileEntry.Kind = .file, hash: String? = nil, deleted: Bool = false) throws -> FileEntry {
            FileEntry(path: try RelativePath(p), kind: kind, hash: hash, deleted: deleted)
        }
        let rows = [try row("a", hash: "h1"), try row("b", hash: "h2"), try row("c", .directory), try row("w", deleted: true),
                    try row("x", deleted: true), try row("y", deleted: true), try row("z", deleted: true)]
        let former = ["x": "h2", "y": "h1", "z": "h9", "w": "h1"]
        let out = FileEntry.keepingRenamesTogether(rows) { former[$0.path.rawValue] }
        #expect(out.map(\.path.rawValue) == ["a", "w", "b", "x", "c", "y", "z"], "each new path takes the first deletion of its content")
        // A deletion that already comes before its new path stays where it is, once.
        let early = FileEntry.keepingRenamesTogether([try row("y", deleted: true), try row("a", hash: "h1")]) { former[$0.path.rawValue] }
        #expect(early.map(\.path.rawValue) == ["y", "a"])
        #expect(FileEntry.keepingRenamesTogether(rows) { _ in nil }.map(\.path) == rows.map(\.path))
    }
}
