import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncProtocol
@testable import SyncEngine

/// A pulled batch is recorded whole or changes nothing: files replaced, added, removed, moved
/// aside for a conflict and directories made all go back when the batch cannot be recorded; what
/// came before a link failure is recorded.
@Suite struct BatchTests {
    struct RecordFailed: Error {}

    /// Every entry below the folder with its kind and content or link target, temporaries included.
    func listing(_ f: Fixture) throws -> String {
        let fm = FileManager.default
        return (fm.enumerator(atPath: f.root)?.allObjects as? [String] ?? []).sorted().map { p in
            let full = f.root + "/" + p
            if let target = try? fm.destinationOfSymbolicLink(atPath: full) { return "l \(p) -> \(target)" }
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: full, isDirectory: &isDir)
            if isDir.boolValue { return "d \(p)" }
            return "f \(p) " + String(decoding: fm.contents(atPath: full) ?? Data(), as: UTF8.self)
        }.joined(separator: "\n")
    }

    @Test func aBatchThatCannotBeRecordedChangesNothingInTheFolder() throws {
        let f = try Fixture()
        let me = try f.state.identity().id.rawValue
        try f.write("a.txt", "mine v1\n")
        try f.write("gone.txt", "to be deleted\n")
        try f.write("both.txt", "edited here\n")
        try f.write("d/keep.txt", "kept\n")
        _ = try f.commit()
        let before = try listing(f)
        let indexBefore = try f.context.index.allEntries().map { "\($0.path) \($0.version) \($0.sequence)" }
        let headBefore = try f.context.history.head()
        let a2 = Array("theirs v2\n".utf8), c = Array("new file\n".utf8), x = Array("deep\n".utf8), both = Array("edited there\n".utf8)
        let peer = HostilePeer.peerID
        let result = try HostilePeerTests().pull(f, { h in
            h.entries = [
                HostilePeer.entry("a.txt", a2, seq: 1, after: me),
                HostilePeer.entry("c.txt", c, seq: 2),
                HostilePeer.entry("new/dir/x.txt", x, seq: 3),
                WireEntry(path: "gone.txt", kind: "file", hash: nil, size: 0, mtimeNs: 0, executable: false, symlinkTarget: nil,
                          deleted: true, version: "\(me):1,\(peer):4", sequence: 4),
                WireEntry(path: "l", kind: "symlink", hash: HistoryRepository.hash(Array("a.txt".utf8)).hex, size: 5, mtimeNs: 0,
                          executable: false, symlinkTarget: "a.txt", deleted: false, version: "\(peer):5", sequence: 5),
                // Concurrent with the local edit, and later: the local version moves aside.
                WireEntry(path: "both.txt", kind: "file", hash: HistoryRepository.hash(both).hex, size: Int64(both.count),
                          mtimeNs: 4_000_000_000_000_000_000, executable: false, symlinkTarget: nil, deleted: false,
                          version: "\(peer):6", sequence: 6),
            ]
            h.contents = ["a.txt": a2, "c.txt": c, "new/dir/x.txt": x, "both.txt": both]
        }, seen: { _ in }, prepare: { $0.beforeRecord = { throw RecordFailed() } })
        guard case .failure(let error) = result else { Issue.record("the batch was recorded"); return }
        #expect(error is RecordFailed)
        #expect(try listing(f) == before)
        #expect(try f.context.index.allEntries().map { "\($0.path) \($0.version) \($0.sequence)" } == indexBefore)
        #expect(try f.context.history.head() == headBefore)
        #expect(try f.context.index.meta(MetaKey.peerSequence(peer)) == nil)

        // The same batch, recordable: all of it lands.
        let again = try HostilePeerTests().pull(f) { h in
            h.entries = [HostilePeer.entry("a.txt", a2, seq: 1, after: me), HostilePeer.entry("c.txt", c, seq: 2)]
            h.contents = ["a.txt": a2, "c.txt": c]
        }
        _ = try again.get()
        #expect(FileManager.default.contents(atPath: f.root + "/a.txt") == Data(a2))
        #expect(!(try listing(f)).contains(".sync-tmp-"))
    }

    /// A batch that empties a directory and puts a file at its path, puts a file where a link was,
    /// and makes new directories, goes back whole when it cannot be recorded, although its writer
    /// held directories open; recorded, it lands whole (a file replacing a directory or a link was
    /// held as "changed here meanwhile": the check before the rename expected what had just been
    /// removed); and a batch leaves no directory held once it ends.
    @Test func aBatchThatReplacesADirectoryGoesBackWhole() throws {
        let f = try Fixture()
        let me = try f.state.identity().id.rawValue
        try f.write("d/keep.txt", "kept\n")
        try f.write("d/sub/deep.txt", "deeper\n")
        #expect(symlink("d/keep.txt", f.root + "/l") == 0)
        _ = try f.commit()
        let before = try listing(f)
        let file = Array("a file now\n".utf8), x = Array("new\n".utf8)
        let peer = HostilePeer.peerID
        func gone(_ p: String, _ seq: Int64, kind: String = "file") -> WireEntry {
            WireEntry(path: p, kind: kind, hash: nil, size: 0, mtimeNs: 0, executable: false, symlinkTarget: nil,
                      deleted: true, version: "\(me):1,\(peer):\(seq)", sequence: seq)
        }
        func rows(_ h: HostilePeer) {
            h.entries = [gone("d/keep.txt", 1), gone("d/sub/deep.txt", 2), gone("d/sub", 3, kind: "directory"),
                         HostilePeer.entry("d", file, seq: 4, after: me), HostilePeer.entry("e/f/x.txt", x, seq: 5),
                         HostilePeer.entry("l", file, seq: 6, after: me)]
            h.contents = ["d": file, "e/f/x.txt": x, "l": file]
        }
        var pullers: [Puller] = []
        let failed = try HostilePeerTests().pull(f, rows, seen: { _ in }, prepare: {
            $0.beforeRecord = { throw RecordFailed() }
            pullers.append($0)
        })
        guard case .failure(let error) = failed else { Issue.record("the batch was recorded"); return }
        #expect(error is RecordFailed)
        #expect(try listing(f) == before)
        let landed = try HostilePeerTests().pull(f, rows, seen: { _ in }, prepare: { pullers.append($0) })
        let problems = try landed.get().problems
        #expect(problems.isEmpty, "\(problems)")
        #expect(FileManager.default.contents(atPath: f.root + "/d") == Data(file))
        #expect(FileManager.default.contents(atPath: f.root + "/e/f/x.txt") == Data(x))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: f.root + "/l")) == nil)
        #expect(FileManager.default.contents(atPath: f.root + "/l") == Data(file))
        #expect(pullers.count == 2 && pullers.allSatisfy { $0.directories.count == 0 })
    }

    @Test func whatCameBeforeTheLinkFailedIsRecorded() throws {
        let f = try Fixture()
        let small = Array("small\n".utf8)
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 7) }
        let result = try HostilePeerTests().pull(f) { h in
            h.entries = [HostilePeer.entry("a-small.txt", small, seq: 1), HostilePeer.entry("b-big.bin", big, seq: 2)]
            h.contents = ["a-small.txt": small, "b-big.bin": big]
            h.cutAfter = 1_000_000
            h.cutPath = "b-big.bin"
        }
        guard case .failure = result else { Issue.record("the cut pull went through"); return }
        #expect(FileManager.default.contents(atPath: f.root + "/a-small.txt") == Data(small))
        #expect(try f.context.index.entry(RelativePath("a-small.txt"))?.hash == HistoryRepository.hash(small).hex)
        #expect(try f.context.index.meta(MetaKey.peerSequence(HostilePeer.peerID)) == nil)
        #expect(try f.context.history.head() != nil)
    }

    /// A transfer cut by a link failure is kept to resume; once a later pull brings every row of
    /// the peer (the file was replaced there meanwhile), nothing wants it and it goes.
    @Test func aSupersededTransferIsRemovedByTheNextWholePull() throws {
        let f = try Fixture()
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 5) }
        let first = try HostilePeerTests().pull(f) { h in
            h.entries = [HostilePeer.entry("big.bin", big, seq: 1)]
            h.contents = ["big.bin": big]
            h.cutAfter = 1_000_000
        }
        guard case .failure = first else { Issue.record("the cut pull went through"); return }
        let temps = { (FileManager.default.enumerator(atPath: f.root)?.allObjects as? [String] ?? []).filter { $0.contains(".sync-tmp-") } }
        #expect(temps().count == 1)
        let small = Array("replaced meanwhile\n".utf8)
        let second = try HostilePeerTests().pull(f) { h in
            h.entries = [HostilePeer.entry("big.bin", small, seq: 2)]
            h.contents = ["big.bin": small]
        }
        _ = try second.get()
        #expect(FileManager.default.contents(atPath: f.root + "/big.bin") == Data(small))
        #expect(temps().isEmpty, "\(temps())")
    }

    /// A temporary of the writer that a killed pull left (noted before it was made) goes with the
    /// next whole pull, without waiting for a rescan.
    @Test func aKilledPullsTemporaryGoesWithTheNextWholePull() throws {
        let f = try Fixture()
        let left = f.root + "/.sync-tmp-99999999-left"
        _ = FileManager.default.createFile(atPath: left, contents: Data("half\n".utf8))
        let text = Array("x\n".utf8)
        let result = try HostilePeerTests().pull(f, { h in
            h.entries = [HostilePeer.entry("x.txt", text, seq: 1)]
            h.contents = ["x.txt": text]
        }, seen: { _ in }, prepare: { $0.noteTransfer(try! RelativePath(".sync-tmp-99999999-left")) })
        _ = try result.get()
        #expect(!FileManager.default.fileExists(atPath: left))
        #expect(FileManager.default.contents(atPath: f.root + "/x.txt") == Data(text))
    }
}
