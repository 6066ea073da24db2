import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport
@testable import SyncEngine

/// The next batch's rows, asked for behind the last window of a batch: read by the next batch,
/// or by a request of this batch that comes after them (a big file's), or read and dropped when
/// the pull ends first. Either way the link stays in step.
@Suite struct IndexAheadTests {
    typealias Node = PullerPropertyTests.Node

    /// Four directories, each of five small files and one of 2 MiB (above the fetch-ahead size,
    /// so its row asks for it after the batch's last window): with batches of 7 rows and windows
    /// of 4 files, each batch is one directory, and the big file's request goes out behind the
    /// next batch's rows.
    static func setUp(_ base: String) throws -> (Node, Node, [String: [UInt8]]) {
        let (a, b) = try Node.pair(base)
        var contents: [String: [UInt8]] = [:]
        for g in 0..<4 {
            try FileManager.default.createDirectory(atPath: a.root + "/g\(g)", withIntermediateDirectories: true)
            for i in 0..<5 { contents["g\(g)/a\(i)"] = ChunkManifestTests.random(1000 + i, seed: UInt64(10 * g + i)) }
            contents["g\(g)/b.bin"] = ChunkManifestTests.random(2 << 20, seed: UInt64(100 + g))
        }
        for (path, bytes) in contents { try ChunkPullTests.write(a.root + "/" + path, bytes) }
        _ = try Committer(a.context).commit(paths: nil)
        return (a, b, contents)
    }

    static func check(_ b: Node, _ contents: [String: [UInt8]]) {
        for (path, bytes) in contents {
            #expect(FileManager.default.contents(atPath: b.root + "/" + path).map(Array.init) == bytes, "\(path)")
        }
    }

    /// Every batch but the first came asked ahead, everything arrived, every byte once.
    @Test func eachBatchIsAskedForBehindTheLastWindowOfTheOneBefore() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-index-ahead-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, contents) = try Self.setUp(base)
        let served = PullerPropertyTests.Counter()
        var puller: Puller?
        let outcome = try PullerPropertyTests.pull(b, from: a, served: served) { $0.batchSize = 7; $0.windowFiles = 4; puller = $0 }
        #expect(!outcome.held, "\(outcome.problems)")
        Self.check(b, contents)
        #expect(puller?.indexAheadTaken == 3)
        #expect(served.value == contents.values.reduce(0) { $0 + $1.count })
    }

    /// A pull that stops after its first batch (cancelled once that batch is recorded, or yielding
    /// to other work) has asked for the second: it reads and drops it, and the next request on the
    /// link gets its own answer.
    @Test func rowsAskedAheadAndNotTakenAreReadAndDroppedInStep() throws {
        for way in ["cancelled", "yielded"] {
            let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-index-ahead-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: base) }
            let (a, b, _) = try Self.setUp(base)
            var puller: Puller?
            var after: RemoteFolder.IndexBatch?
            var ended: Result<PullOutcome, Error>?
            _ = try? PullerPropertyTests.pull(b, from: a, prepare: { p in
                p.batchSize = 7
                p.windowFiles = 4
                var recorded = false
                p.onChanges = { _ in recorded = true }
                if way == "cancelled" { p.cancelled = { recorded } } else { p.yieldBetweenBatches = { true } }
                puller = p
            }, then: { result, remote in
                ended = result
                after = try remote.index(since: 0, limit: 5)
            })
            switch (way, ended) {
            case ("cancelled", .success(let o)?): #expect(!o.held, "\(o.problems)")
            case ("yielded", .failure(let e)?): #expect(e is Puller.Yielded, "\(e)")
            default: Issue.record("\(way): the pull ended as \(String(describing: ended))")
            }
            #expect(puller?.indexAhead == nil, "\(way)")
            #expect(puller?.indexAheadTaken == 0, "\(way)")
            #expect(after?.entries.count == 5, "\(way)")
            #expect(after?.more == true, "\(way)")
            // The first batch was applied: its directory is here whole, the next one is not.
            #expect(FileManager.default.fileExists(atPath: b.root + "/g0/b.bin"), "\(way)")
            #expect(!FileManager.default.fileExists(atPath: b.root + "/g1"), "\(way)")
        }
    }
}
