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

    /// The check that the target is as the caller saw it comes before the rename: a file a local
    /// program makes or writes in between is never lost (seen as a chaos run's lost write).
    @Test func aFileWrittenBetweenTheCheckAndTheRenameIsKept() throws {
        let f = try Fixture()
        var w = FolderWriter(root: f.root)
        let new = Array("new\n".utf8), hash = HistoryRepository.hash(new).hex
        func place(_ path: String, replacing row: FileEntry?, with writer: FolderWriter) throws {
            try writer.placeFile(RelativePath(path), hash: hash, executable: false, replacing: row) { fd in
                _ = new.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
        // Nothing there when checked, a file made just after: it stays, nothing is placed.
        w.beforeRename = { p in try? "made here\n".write(toFile: f.root + "/" + p.rawValue, atomically: false, encoding: .utf8) }
        #expect(throws: FolderWriter.Changed.self) { try place("a.txt", replacing: nil, with: w) }
        #expect(FileManager.default.contents(atPath: f.root + "/a.txt") == Data("made here\n".utf8))
        // The same after a deletion was recorded, and for a link.
        try f.write("b.txt", "b\n")
        _ = try row(f, "b.txt")
        try FileManager.default.removeItem(atPath: f.root + "/b.txt")
        let gone = try row(f, "b.txt")
        #expect(gone.deleted)
        #expect(throws: FolderWriter.Changed.self) { try place("b.txt", replacing: gone, with: w) }
        #expect(FileManager.default.contents(atPath: f.root + "/b.txt") == Data("made here\n".utf8))
        #expect(throws: FolderWriter.Changed.self) { try w.placeLink(RelativePath("l"), target: "x", replacing: nil) }
        #expect(FileManager.default.contents(atPath: f.root + "/l") == Data("made here\n".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.root).filter { $0.hasPrefix(".sync-tmp-") }.isEmpty)
        // A file written in place after the check is replaced, and kept as a conflict copy when
        // the batch settles.
        let journal = Journal()
        w = FolderWriter(root: f.root, journal: journal)
        let seen = try row(f, "a.txt")
        w.beforeRename = { p in
            let h = FileHandle(forWritingAtPath: f.root + "/" + p.rawValue)!
            h.seekToEndOfFile()
            h.write(Data("written meanwhile\n".utf8))
            h.closeFile()
        }
        try place("a.txt", replacing: seen, with: w)
        let copies = journal.settle(w, node: "node")
        #expect(copies.count == 1)
        #expect(FileManager.default.contents(atPath: f.root + "/a.txt") == Data(new))
        #expect(copies.first.map { FileManager.default.contents(atPath: f.root + "/" + $0.rawValue) } == Data("made here\nwritten meanwhile\n".utf8))
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
            _ = FileManager.default.createFile(atPath: f.root + "/" + p, contents: Data(count: 100))
            if let date { try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: f.root + "/" + p) }
        }
        _ = try f.commit()
        let left = Set((FileManager.default.enumerator(atPath: f.root)?.allObjects as? [String] ?? []).filter { $0.contains(".sync-tmp-") })
        #expect(left == ["d/.sync-tmp-\(getpid())-live", ".sync-tmp-\(hash)"])
        #expect(try f.context.index.allEntries().allSatisfy { !$0.path.rawValue.contains(".sync-tmp-") })
    }
}
