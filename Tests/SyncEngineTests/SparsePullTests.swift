import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
import SyncTestSupport
@testable import SyncEngine

/// A sparse file stays sparse on the node that pulls it, fetched whole, copied from a file the
/// node holds already (which moves no content over the link), or patched with a delta.
@Suite struct SparsePullTests {
    @Test func aSparseFileStaysSparseFetchedOrCopiedHere() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-sparse-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        // 1 MiB of data at each end of a 256 MiB file; the rest a hole.
        var rng = SplitMix(11)
        let head = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let size = 256 << 20
        let path = a.root + "/disk.img"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        _ = head.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = head.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(size - head.count)) }
        close(fd)
        _ = try Committer(a.context).commit(paths: nil)
        let first = try PullerPropertyTests.pull(b, from: a)
        #expect(!first.held)

        func allocated(_ p: String) -> Int { var st = stat(); lstat(p, &st); return Int(st.st_blocks) * 512 }
        #expect(FileManager.default.contentsEqual(atPath: path, andPath: b.root + "/disk.img"))
        #expect(allocated(b.root + "/disk.img") <= 4 << 20, "fetched: \(allocated(b.root + "/disk.img")) bytes allocated")

        // A copy on A: B makes it from its own file, sparse too, and no content crosses the link.
        try FileManager.default.copyItem(atPath: path, toPath: a.root + "/copy.img")
        _ = try Committer(a.context).commit(paths: nil)
        let second = try PullerPropertyTests.pull(b, from: a)
        #expect(second.contentBytes == 0)
        #expect(FileManager.default.contentsEqual(atPath: path, andPath: b.root + "/copy.img"))
        #expect(allocated(b.root + "/copy.img") <= 4 << 20, "copied: \(allocated(b.root + "/copy.img")) bytes allocated")

        // One byte changed in the middle of the hole: a delta of a few blocks, and the patched
        // file is as sparse as before.
        let edit = open(path, O_WRONLY)
        _ = pwrite(edit, "x", 1, off_t(size / 2))
        close(edit)
        _ = try Committer(a.context).commit(paths: nil)
        let third = try PullerPropertyTests.pull(b, from: a)
        #expect(!third.held)
        #expect(third.contentBytes < 1 << 20, "the edit moved \(third.contentBytes) bytes")
        #expect(FileManager.default.contentsEqual(atPath: path, andPath: b.root + "/disk.img"))
        #expect(allocated(b.root + "/disk.img") <= 4 << 20, "patched: \(allocated(b.root + "/disk.img")) bytes allocated")
    }
}
