import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

/// The one writer into a folder: never through a link, never over what changed, never over a copy.
@Suite struct FolderWriterTests {
    func row(_ f: Fixture, _ path: String) throws -> FileEntry {
        _ = try f.commit()
        return try #require(try f.context.index.entry(RelativePath(path)))
    }

    @Test func aFileIsPlacedOnlyWithItsHashAndOnlyOverWhatTheCallerSaw() throws {
        let f = try Fixture()
        let w = FolderWriter(root: f.root)
        try f.write("a.txt", "old\n")
        let seen = try row(f, "a.txt")
        let new = Array("new\n".utf8)
        // Content that does not hash as promised is never placed.
        #expect(throws: SyncError.self) {
            try w.placeFile(RelativePath("a.txt"), hash: HistoryRepository.hash(Array("else".utf8)).hex, executable: false,
                            replacing: seen) { fd in _ = new.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        }
        // A local edit after the caller looked wins.
        try f.write("a.txt", "edited here\n")
        #expect(throws: FolderWriter.Changed.self) {
            try w.placeFile(RelativePath("a.txt"), hash: HistoryRepository.hash(new).hex, executable: true, replacing: seen) { fd in
                _ = new.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
        #expect(FileManager.default.contents(atPath: f.root + "/a.txt") == Data("edited here\n".utf8))
        let now = try row(f, "a.txt")
        try w.placeFile(RelativePath("a.txt"), hash: HistoryRepository.hash(new).hex, executable: true, replacing: now) { fd in
            _ = new.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
        #expect(FileManager.default.contents(atPath: f.root + "/a.txt") == Data(new))
        #expect(FileManager.default.isExecutableFile(atPath: f.root + "/a.txt"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.root).filter { $0.hasPrefix(".sync-tmp-") }.isEmpty)
    }

    @Test func nothingIsWrittenThroughALinkOnTheWay() throws {
        let f = try Fixture()
        let outside = f.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/link", withDestinationPath: outside)
        let w = FolderWriter(root: f.root)
        let text = Array("x".utf8)
        #expect(throws: FolderWriter.Blocked.self) {
            try w.placeFile(RelativePath("link/x"), hash: HistoryRepository.hash(text).hex, executable: false, replacing: nil) { fd in
                _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
        #expect(throws: FolderWriter.Blocked.self) { try w.placeLink(RelativePath("link/l"), target: "/etc", replacing: nil) }
        #expect(throws: FolderWriter.Blocked.self) { try w.makeDirectory(RelativePath("link/d/e")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test func aFileMovedAsideNeverReplacesAnotherCopy() throws {
        let f = try Fixture()
        let w = FolderWriter(root: f.root)
        try f.write("a.txt", "mine\n")
        try f.write("a.sync-conflict-x.txt", "an earlier copy\n")
        let seen = try row(f, "a.txt")
        let copy = try RelativePath("a.sync-conflict-x.txt")
        #expect(throws: FolderWriter.Changed.self) { try w.moveAside(RelativePath("a.txt"), to: copy, expecting: seen) }
        #expect(FileManager.default.contents(atPath: f.root + "/a.sync-conflict-x.txt") == Data("an earlier copy\n".utf8))
        #expect(FileManager.default.contents(atPath: f.root + "/a.txt") == Data("mine\n".utf8))
        try w.moveAside(RelativePath("a.txt"), to: RelativePath("a.sync-conflict-y.txt"), expecting: seen)
        #expect(FileManager.default.contents(atPath: f.root + "/a.sync-conflict-y.txt") == Data("mine\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: f.root + "/a.txt"))
    }

    @Test func aFullCommitSweepsTemporariesOfDeadProcessesAndAbandonedTransfers() throws {
        let f = try Fixture()
        try f.write("d/keep.txt", "k\n")
        let old = Date().addingTimeInterval(-2 * 3600)
        let hash = String(repeating: "b", count: 40), hash2 = String(repeating: "c", count: 40)
        let files: [(String, Date?)] = [
            ("d/.sync-tmp-99999999-dead", nil),            // a process that is gone
            ("d/.sync-tmp-\(getpid())-live", nil),         // this one, alive
            (".sync-tmp-\(hash)", nil),                    // a transfer to resume, recent
            ("d/.sync-tmp-\(hash2)", old),                 // a transfer abandoned two hours ago
            (".sync-tmp-legacy", old),                     // a name of no process, old
        ]
        for (p, date) in files {
            FileManager.default.createFile(atPath: f.root + "/" + p, contents: Data(count: 100))
            if let date { try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: f.root + "/" + p) }
        }
        _ = try f.commit()
        let left = Set((FileManager.default.enumerator(atPath: f.root)?.allObjects as? [String] ?? []).filter { $0.contains(".sync-tmp-") })
        #expect(left == ["d/.sync-tmp-\(getpid())-live", ".sync-tmp-\(hash)"])
        #expect(try f.context.index.allEntries().allSatisfy { !$0.path.rawValue.contains(".sync-tmp-") })
    }
}
