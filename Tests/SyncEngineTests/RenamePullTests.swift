import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
import SyncTestSupport
@testable import SyncEngine

/// A rename made on one node is a rename on the node that pulls it: the file is moved, not
/// copied or fetched, and both histories say `R OLD -> NEW`.
@Suite struct RenamePullTests {
    typealias Node = PullerPropertyTests.Node

    /// Writes `bytes` seeded random bytes at `path`; returns them.
    @discardableResult
    func write(_ path: String, bytes: Int, seed: UInt64) throws -> Data {
        var rng = SplitMix(seed)
        let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        return data
    }

    /// Two nodes under `base` that hold the same file `name` (written on A, committed, pulled by B).
    func sharing(_ base: String, _ name: String, bytes: Int, seed: UInt64) throws -> (a: Node, b: Node) {
        let (a, b) = try Node.pair(base)
        try write(a.root + "/" + name, bytes: bytes, seed: seed)
        _ = try Committer(a.context).commit(paths: nil)
        _ = try PullerPropertyTests.pull(b, from: a)
        return (a, b)
    }

    func inode(_ path: String) -> UInt64 { var st = stat(); return lstat(path, &st) == 0 ? UInt64(st.st_ino) : 0 }

    @Test func aRenamedBigFileIsMovedOnThePeerWithNoContentOnTheLink() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-rename-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try Node.pair(base)
        // Above history.max-blob too: a pointer in history, its content only in the folder.
        try write(a.root + "/video.bin", bytes: 20 << 20, seed: 1)
        try write(a.root + "/small.txt", bytes: 100, seed: 2)
        _ = try Committer(a.context).commit(paths: nil)
        _ = try PullerPropertyTests.pull(b, from: a)
        let before = inode(b.root + "/video.bin")
        #expect(before != 0)

        try FileManager.default.createDirectory(atPath: a.root + "/2026/trip", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: a.root + "/video.bin", toPath: a.root + "/2026/trip/video.bin")
        let made = try #require(try Committer(a.context).commit(paths: nil))
        #expect(made.changes.map(\.line).contains("R video.bin -> 2026/trip/video.bin"), "\(made.changes.map(\.line))")

        // In one batch (the helper's are of 3 rows; a rename split between two is copied here).
        let pulled = try PullerPropertyTests.pull(b, from: a) { $0.batchSize = 100 }
        #expect(!pulled.held, "\(pulled.problems)")
        #expect(pulled.contentBytes == 0)
        #expect(pulled.changes.map(\.line).contains("R video.bin -> 2026/trip/video.bin"), "\(pulled.changes.map(\.line))")
        // Moved: the same inode at the new path, nothing at the old one, nothing left over.
        #expect(inode(b.root + "/2026/trip/video.bin") == before)
        #expect(!FileManager.default.fileExists(atPath: b.root + "/video.bin"))
        #expect(FileManager.default.contentsEqual(atPath: a.root + "/2026/trip/video.bin", andPath: b.root + "/2026/trip/video.bin"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: b.root).filter { $0.hasPrefix(".sync-") }.isEmpty)
        let logged = try HistoryQueries(b.context).log(limit: 1).first
        #expect(logged?.changes.map(\.line) == ["R video.bin -> 2026/trip/video.bin"], "\(String(describing: logged))")
        // The index agrees with the disk: a scan finds nothing to record.
        #expect(try Committer(b.context).commit(paths: nil) == nil)
    }

    @Test func aFileEditedHereIsNotMovedAwayByThePeersRename() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-rename-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try sharing(base, "report.bin", bytes: 2 << 20, seed: 3)
        // B edits its copy; A renames its own: the edit stays at its path, and the new path comes too.
        let edited = try write(b.root + "/report.bin", bytes: 2 << 20, seed: 4)
        _ = try Committer(b.context).commit(paths: nil)
        try FileManager.default.moveItem(atPath: a.root + "/report.bin", toPath: a.root + "/final.bin")
        _ = try Committer(a.context).commit(paths: nil)
        _ = try PullerPropertyTests.pull(b, from: a)
        #expect(FileManager.default.contentsEqual(atPath: a.root + "/final.bin", andPath: b.root + "/final.bin"))
        #expect(FileManager.default.contents(atPath: b.root + "/report.bin") == edited, "the local edit was lost")
    }

    @Test func aBatchWithAMoveThatCannotBeRecordedPutsTheFileBack() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-rename-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try sharing(base, "old.bin", bytes: 3 << 20, seed: 5)
        let before = inode(b.root + "/old.bin")
        try FileManager.default.moveItem(atPath: a.root + "/old.bin", toPath: a.root + "/new.bin")
        _ = try Committer(a.context).commit(paths: nil)
        struct RecordFailed: Error {}
        #expect(throws: RecordFailed.self) {
            _ = try PullerPropertyTests.pull(b, from: a) { $0.beforeRecord = { throw RecordFailed() } }
        }
        #expect(inode(b.root + "/old.bin") == before, "the moved file did not come back")
        #expect(!FileManager.default.fileExists(atPath: b.root + "/new.bin"))
        // Recordable, it lands.
        _ = try PullerPropertyTests.pull(b, from: a)
        #expect(inode(b.root + "/new.bin") == before)
        #expect(!FileManager.default.fileExists(atPath: b.root + "/old.bin"))
    }

    @Test func aDirectoryOfBigFilesMovedIsMovedOnThePeerAcrossBatches() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-rename-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try Node.pair(base)
        let names = ["f1", "f2", "f3", "f4"]
        for (i, n) in names.enumerated() { try write(a.root + "/d/" + n, bytes: (1 << 20) + i, seed: 10 + UInt64(i)) }
        _ = try Committer(a.context).commit(paths: nil)
        _ = try PullerPropertyTests.pull(b, from: a)
        let before = names.map { inode(b.root + "/d/" + $0) }

        try FileManager.default.moveItem(atPath: a.root + "/d", toPath: a.root + "/e")
        // In parts of 3 on A too: no part splits a rename.
        var committer = Committer(a.context)
        committer.partSize = 3
        let made = try #require(try committer.commit(paths: nil))
        #expect(made.changes.map(\.line).sorted() == names.map { "R d/\($0) -> e/\($0)" }, "\(made.changes.map(\.line))")
        // A's sequence keeps each deletion right after the new path of its content.
        let rows = try a.context.index.entries(since: 0, limit: 100).filter { $0.kind == .file }.sorted { $0.sequence < $1.sequence }
        for n in names {
            let added = try #require(rows.first { $0.path.rawValue == "e/" + n }), gone = try #require(rows.first { $0.path.rawValue == "d/" + n })
            #expect(gone.sequence == added.sequence + 1, "\(n): \(added.sequence) \(gone.sequence)")
        }

        // Batches of 3 rows: each move still lands whole (no copy, nothing fetched).
        let pulled = try PullerPropertyTests.pull(b, from: a)
        #expect(!pulled.held, "\(pulled.problems)")
        #expect(pulled.contentBytes == 0)
        #expect(names.map { inode(b.root + "/e/" + $0) } == before, "copied instead of moved")
        #expect(!FileManager.default.fileExists(atPath: b.root + "/d"))
        #expect(try Committer(b.context).commit(paths: nil) == nil)
    }
}

/// A big file comes in ranges, two in flight: a range the peer refuses leaves the one behind it to
/// be read, and the link stays in step for the rest of the batch.
@Suite struct RangeTests {
    @Test func aRefusedRangeLeavesTheLinkInStep() throws {
        let f = try Fixture()
        let big = (0..<(20 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let small = Array("after it\n".utf8)
        var asked: [Int64] = []
        let result = try HostilePeerTests().pull(f, { h in
            h.entries = [HostilePeer.entry("a-big.bin", big, seq: 1), HostilePeer.entry("b-small.txt", small, seq: 2)]
            h.contents = ["a-big.bin": big, "b-small.txt": small]
            h.refuseOffset = Puller.rangeSize
        }, seen: { asked = $0.offsets["a-big.bin"] ?? [] })
        let outcome = try result.get()
        // Two in flight: the third range was asked for before the refusal of the second was read;
        // its answer is read too (and the file given up), so the small file after it still comes.
        #expect(asked == [0, Puller.rangeSize, 2 * Puller.rangeSize], "\(asked)")
        #expect(outcome.problems.map(\.path) == ["a-big.bin"], "\(outcome.problems)")
        #expect(!FileManager.default.fileExists(atPath: f.root + "/a-big.bin"))
        #expect(FileManager.default.contents(atPath: f.root + "/b-small.txt") == Data(small))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.root).filter { $0.hasPrefix(".sync-tmp-") }.isEmpty)
    }
}
