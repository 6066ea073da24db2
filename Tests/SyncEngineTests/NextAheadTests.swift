import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport
@testable import SyncEngine

/// Files too large for windows of fetching ahead: as one row's last range is asked for, the next
/// row's first ranges are, when that row will surely fetch its file whole. What is asked ahead is
/// read by its row, or read and dropped when anything else asks first; the link stays in step.
@Suite struct NextAheadTests {
    typealias Node = PullerPropertyTests.Node

    /// A's files (path, size in bytes, seed); `old.bin` on B holds what `d/e.bin` holds.
    static let files: [(String, Int, UInt64)] = [
        ("d/a.bin", 2 << 20, 1), ("d/b.bin", 9 << 20, 2), ("d/c.bin", 3 << 20, 3), ("d/d.txt", 100, 4),
        ("d/e.bin", 2 << 20, 5), ("d/f.bin", 17 << 20, 6), ("d/g.bin", (2 << 20) + 1, 7),
    ]

    func setUp(_ base: String) throws -> (Node, Node, [String: [UInt8]]) {
        let (a, b) = try Node.pair(base)
        var contents: [String: [UInt8]] = [:]
        try FileManager.default.createDirectory(atPath: a.root + "/d", withIntermediateDirectories: true)
        for (path, size, seed) in Self.files {
            contents[path] = ChunkManifestTests.random(size, seed: seed)
            try ChunkPullTests.write(a.root + "/" + path, contents[path]!)
        }
        try ChunkPullTests.write(b.root + "/old.bin", contents["d/e.bin"]!)
        _ = try Committer(a.context).commit(paths: nil)
        _ = try Committer(b.context).commit(paths: nil)
        return (a, b, contents)
    }

    func check(_ b: Node, _ contents: [String: [UInt8]]) {
        for (path, bytes) in contents {
            #expect(FileManager.default.contents(atPath: b.root + "/" + path).map(Array.init) == bytes, "\(path)")
        }
    }

    /// Rows: d, a, b, c, d.txt, e, f, g. Asked ahead and read by their rows: b (after a), c (after
    /// b) and g (after f); not d.txt (fetched in a window), e (B holds its content) or f (after a
    /// row that asked for nothing). Every byte served is a byte of a file B lacked: nothing asked
    /// ahead was dropped and asked for again.
    @Test func theNextFileIsAskedForWhileOneComesAndNothingIsSentTwice() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-next-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, contents) = try setUp(base)
        let served = PullerPropertyTests.Counter()
        var puller: Puller?
        let outcome = try PullerPropertyTests.pull(b, from: a, served: served) { $0.batchSize = 100; puller = $0 }
        #expect(!outcome.held, "\(outcome.problems)")
        check(b, contents)
        #expect(puller?.nextAheadTaken == 3)
        let lacked = Self.files.filter { $0.0 != "d/e.bin" }.reduce(0) { $0 + $1.1 }
        #expect(served.value == lacked)
    }

    /// Batches of 3 (their edges end what is asked ahead), and a cut transfer of b resumed from
    /// its temporary: the range asked ahead for b from offset 0 is read and dropped when b asks
    /// from where it stopped. Everything still comes, and no more is sent than that range.
    @Test func whatIsAskedAheadAndNotWantedIsDroppedInStep() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-next-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, contents) = try setUp(base)
        let hash = try #require(try a.context.index.entry(RelativePath("d/b.bin"))?.hash)
        try FileManager.default.createDirectory(atPath: b.root + "/d", withIntermediateDirectories: true)
        try ChunkPullTests.write(b.root + "/d/" + Scanner.temporaryPrefix + hash, Array(contents["d/b.bin"]!.prefix(1 << 20)))
        let served = PullerPropertyTests.Counter()
        var puller: Puller?
        let outcome = try PullerPropertyTests.pull(b, from: a, served: served) { $0.batchSize = 3; puller = $0 }
        #expect(!outcome.held, "\(outcome.problems)")
        check(b, contents)
        let lacked = Self.files.filter { $0.0 != "d/e.bin" }.reduce(0) { $0 + $1.1 } - (1 << 20)
        #expect(served.value > lacked, "b's first ranges were asked ahead and dropped")
        #expect(served.value <= lacked + 2 * Int(Puller.rangeSize))
        #expect((puller?.nextAheadTaken ?? 0) >= 1)
    }
}
