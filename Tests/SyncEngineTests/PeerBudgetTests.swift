import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncProtocol
@testable import SyncEngine

/// What a peer sends cannot crash, stall or fill a node: numbers at both ends of their range,
/// answers past their budget, signatures for folders it may not see, requests inside requests.
@Suite struct PeerBudgetTests {
    let hostile = HostilePeerTests()

    func row(_ path: String, _ content: [UInt8], version: String, seq: Int64, mtime: Int64 = 1_700_000_000_000_000_000) -> WireEntry {
        WireEntry(path: path, kind: "file", hash: HistoryRepository.hash(content).hex, size: Int64(content.count), mtimeNs: mtime,
                  executable: false, symlinkTarget: nil, deleted: false, version: version, sequence: seq)
    }

    @Test func countersAtTheirLimitAndTimesAtBothEndsNeverTrap() throws {
        let f = try Fixture()
        let me = try f.state.identity().id
        let peer = HostilePeer.peerID
        let text = Array("content\n".utf8)
        let result = try hostile.pull(f) { h in
            h.entries = [
                row("limit.txt", text, version: "\(me):\(VersionVector.peerLimit),\(peer):1", seq: 1),
                row("over.txt", text, version: "\(me):\(UInt64.max)", seq: 2),
                row("past.txt", text, version: "\(peer):\(VersionVector.peerLimit + 1)", seq: 3),
                row("old.txt", text, version: "\(peer):1", seq: 4, mtime: .min),
                row("future.txt", text, version: "\(peer):1", seq: 5, mtime: .max),
            ]
            h.contents = ["limit.txt": text, "over.txt": text, "past.txt": text, "old.txt": text, "future.txt": text]
        }
        let outcome = try result.get()
        let problems = outcome.problems.map(\.description).joined(separator: "\n")
        #expect(problems.contains("refused over.txt from peer: bad version vector"), "\(problems)")
        #expect(problems.contains("refused past.txt from peer: bad version vector"), "\(problems)")
        for name in ["limit.txt", "old.txt", "future.txt"] {
            #expect(FileManager.default.fileExists(atPath: f.root + "/" + name), "\(name): \(problems)")
        }
        // This node's own change counts on from the peer's limit, without a trap.
        try f.write("limit.txt", "edited here\n")
        _ = try f.commit()
        let version = try #require(try f.context.index.entry(RelativePath("limit.txt"))).version
        #expect(version.counters[me.rawValue] == VersionVector.peerLimit + 1)
        // Counting past the limit is refused by the next peer, not a crash anywhere.
        #expect(throws: SyncError.self) { try VersionVector(parsing: version.description, fromPeer: true) }
        #expect(VersionVector([me.rawValue: .max]).bumped(by: me).counters[me.rawValue] == .max)
    }

    @Test func sequencesOutOfRangeEndThePullAndChangeNothing() throws {
        let f = try Fixture()
        let text = Array("x\n".utf8)
        for configure: (HostilePeer) -> Void in [
            { $0.entries = [self.row("a.txt", text, version: "\(HostilePeer.peerID):1", seq: .max)] },
            { $0.entries = [self.row("a.txt", text, version: "\(HostilePeer.peerID):1", seq: -1)] },
            { $0.entries = [self.row("a.txt", text, version: "\(HostilePeer.peerID):1", seq: 1)]; $0.endSequence = .max },
            { $0.entries = [self.row("a.txt", text, version: "\(HostilePeer.peerID):1", seq: 1)]; $0.endSequence = .min },
            // A peer that always says more rows follow, sending none, cannot keep a pull turning.
            { $0.entries = []; $0.more = true },
        ] {
            let result = try hostile.pull(f) { h in configure(h); h.contents = ["a.txt": text] }
            guard case .failure(let error) = result else { Issue.record("pull went through"); continue }
            #expect(error is ProtocolError, "\(error)")
            #expect(!FileManager.default.fileExists(atPath: f.root + "/a.txt"))
            #expect(try f.context.index.entry(RelativePath("a.txt")) == nil)
            #expect(try f.context.index.meta(MetaKey.peerSequence(HostilePeer.peerID)) == nil)
        }
    }

    @Test func anIndexAnswerPastItsByteBudgetIsRefusedWhole() throws {
        let f = try Fixture()
        let text = Array("x\n".utf8)
        // Rows padded near the bound of each field: 1,000 of them pass the byte budget of an answer.
        let padded = String(repeating: "v", count: Limits.maxVersionBytes)
        let result = try hostile.pull(f) { h in
            let dir = String(repeating: "d", count: 250) + "/"
            let path = String(repeating: dir, count: 12)
            h.entries = (1...1000).map { self.row(path + "f\($0).txt", text, version: padded, seq: Int64($0)) }
        }
        guard case .failure(let error) = result else { Issue.record("pull went through"); return }
        #expect(error as? ProtocolError == .malformed("index answer larger than \(Limits.maxBatchBytes) bytes"))
        #expect(try f.context.index.entries(since: 0, limit: 10).isEmpty)
    }

    @Test func scratchFilesOfDeadProcessesAreSweptAndLiveOnesKept() throws {
        let f = try Fixture()
        let tmp = f.state.root + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        // A pid far above any in use (pid_max is at most 2^22), this process's, and an old unnamed file.
        let dead = tmp + "/serve-99999999-abc", live = tmp + "/pull-\(getpid())-def.sig", old = tmp + "/leftover"
        for p in [dead, live, old] { _ = FileManager.default.createFile(atPath: p, contents: Data(count: 4096)) }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: old)
        let fresh = try f.state.temporaryPath("pull")
        #expect(fresh.hasPrefix(tmp + "/pull-\(getpid())-"))
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: live))
    }

    /// A server on one end of a socket pair; `body` talks to it raw.
    func serve(_ f: Fixture, _ peer: NodeID, identity peerIdentity: NodeIdentity? = nil, body: (Session) throws -> Void) throws -> Error? {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let theirFD = fds[1]
        let server = FolderServer(state: f.state, peer: peer)
        let box = InviteTests.Box(server)
        final class Failure: @unchecked Sendable { var error: Error? }
        let failure = Failure()
        let identity = try f.state.identity()
        let done = DispatchSemaphore(value: 0)
        Thread {
            let s = Session(link: Link(FileDescriptorTransport(input: theirFD, output: theirFD)), identity: identity, dialing: false)
            s.handler = box.handler
            do { try s.handshake(); try s.serveUntilClosed() } catch { failure.error = error }
            shutdown(theirFD, Int32(SHUT_RDWR))
            done.signal()
        }.start()
        let peerIdentity = try peerIdentity ?? NodeIdentity.loadOrCreate(in: f.base + "/peer-\(UUID().uuidString)")
        let mine = Session(link: Link(FileDescriptorTransport(input: fds[0], output: fds[0])), identity: peerIdentity, dialing: true)
        try mine.handshake()
        try body(mine)
        try? mine.send(.bye)
        done.wait()
        close(fds[0]); close(theirFD)
        return failure.error
    }

    @Test func aSignatureForAFolderThePeerMayNotSeeIsNeverStored() throws {
        let f = try Fixture()
        let folder = f.context.folder.id.rawValue, missing = FolderID.random().rawValue
        let peer = try NodeIdentity.loadOrCreate(in: f.base + "/p").id
        var answers: [Message] = []
        let error = try serve(f, peer) { s in
            for name in [folder, missing] {
                let id = s.newRequestID()
                try s.send(.deltaRequest(id: id, folder: name, path: "a", hash: String(repeating: "a", count: 40)))
                for _ in 0..<40 { try s.send(.data(id: id, Array(repeating: 7, count: Frame.chunkSize))) }
                // 10 MiB sent and read: nothing of it on disk.
                usleep(100_000)
                let stored = (try? FileManager.default.contentsOfDirectory(atPath: f.state.root + "/tmp")) ?? []
                #expect(stored.allSatisfy { (try? FileManager.default.attributesOfItem(atPath: f.state.root + "/tmp/" + $0)[.size] as? Int) == 0 },
                        "\(stored)")
                try s.send(.end(id: id))
                answers.append(try s.next(for: id))
            }
        }
        #expect(error == nil)
        #expect(answers == [.error(id: 1, code: .notFound, message: "not found"), .error(id: 3, code: .notFound, message: "not found")])
    }

    @Test func aRequestInsideADeltaRequestEndsTheLink() throws {
        let f = try Fixture()
        let error = try serve(f, try NodeIdentity.loadOrCreate(in: f.base + "/p").id) { s in
            // The server ends the link at the second request: later sends may find it closed.
            for depth in 0..<50 {
                let id = s.newRequestID()
                guard (try? s.send(.deltaRequest(id: id, folder: f.context.folder.id.rawValue, path: "a\(depth)", hash: "h"))) != nil,
                      (try? s.send(.data(id: id, [1, 2, 3]))) != nil else { break }
            }
        }
        #expect(error as? ProtocolError == .unexpected("a request inside request 1"))
    }

    @Test func aSignaturePastItsBudgetEndsTheLink() throws {
        let f = try Fixture()
        let error = try serve(f, try NodeIdentity.loadOrCreate(in: f.base + "/p").id) { s in
            let id = s.newRequestID()
            try s.send(.deltaRequest(id: id, folder: FolderID.random().rawValue, path: "a", hash: "h"))
            let chunk = Array(repeating: UInt8(1), count: Int(Frame.maxLength) - 16)
            for _ in 0...(FolderServer.maxSignature / Int64(chunk.count)) + 1 {
                guard (try? s.send(.data(id: id, chunk))) != nil else { break }
            }
        }
        #expect(error as? ProtocolError == .malformed("signature larger than \(FolderServer.maxSignature) bytes"))
    }

    /// Uncached (a new map for every request, as a new sync-serve has), a denied folder with 1 or
    /// 100 keys and a missing folder cost the same: medians of interleaved requests within 10 %.
    @Test(arguments: [1, 100])
    func deniedAndMissingCostTheSameUncachedWhateverTheKeys(keys: Int) throws {
        let f = try Fixture()
        for _ in 0..<keys {
            try FolderAccess.allow(PeerKey(rawKey: (0..<32).map { _ in UInt8.random(in: 0...255) }), for: f.context.folder)
        }
        let peer = try NodeIdentity.loadOrCreate(in: f.base + "/p").id
        let denied = f.context.folder.id.rawValue, missing = FolderID.random().rawValue
        var times: [String: [UInt64]] = [denied: [], missing: []]
        for round in 0..<600 {
            for folder in round % 2 == 0 ? [denied, missing] : [missing, denied] {
                let cache = FolderAccess.Cache()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let answer = cache.authorizedFolder(folder, peer: peer, state: f.state)
                let t1 = DispatchTime.now().uptimeNanoseconds
                #expect(answer == nil)
                if round >= 100 { times[folder]!.append(t1 - t0) }
            }
        }
        func median(_ xs: [UInt64]) -> Double { Double(xs.sorted()[xs.count / 2]) }
        let d = median(times[denied]!), m = median(times[missing]!)
        #expect(abs(d - m) <= 0.10 * max(d, m), "\(keys) keys: median denied \(d) ns, missing \(m) ns")
        // And the map is right: allowed now, denied again at once.
        let key = PeerKey(rawKey: try NodeIdentity.loadOrCreate(in: f.base + "/p").rawPublicKey)
        let cache = FolderAccess.Cache()
        try FolderAccess.allow(key, for: f.context.folder)
        #expect(cache.authorizedFolder(denied, peer: peer, state: f.state)?.id.rawValue == denied)
        try FolderAccess.deny(peer, for: f.context.folder)
        #expect(cache.authorizedFolder(denied, peer: peer, state: f.state) == nil)
    }

    /// The folder list is kept between requests only while the folders directory is unchanged
    /// and its last change is two seconds old: a folder added right after a listing, or later, is
    /// seen by the next request of a link that lives on.
    @Test func aFolderAddedWhileALinkLivesIsSeenAtOnce() throws {
        let f = try Fixture()
        let identity = try NodeIdentity.loadOrCreate(in: f.base + "/p")
        let key = PeerKey(rawKey: identity.rawPublicKey)
        try FolderAccess.allow(key, for: f.context.folder)
        let cache = FolderAccess.Cache()
        func visible() -> Set<String> { Set(cache.visibleFolders(peer: identity.id, state: f.state).keys) }
        #expect(visible() == [f.context.folder.id.rawValue])
        // Made in the same tick of the directory clock as the listing: the listing was not kept.
        try FileManager.default.createDirectory(atPath: f.base + "/g", withIntermediateDirectories: true)
        let g = try Registry.initFolder(at: f.base + "/g", state: f.state)
        try FolderAccess.allow(key, for: g)
        #expect(visible() == [f.context.folder.id.rawValue, g.id.rawValue])
        // Settled (the directory's time two seconds back): kept, and a folder made since still shows.
        var old = [timespec(tv_sec: time(nil) - 10, tv_nsec: 0), timespec(tv_sec: time(nil) - 10, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, f.state.foldersPath, &old, 0) == 0)
        #expect(visible().count == 2)
        try FileManager.default.createDirectory(atPath: f.base + "/h", withIntermediateDirectories: true)
        let h = try Registry.initFolder(at: f.base + "/h", state: f.state)
        try FolderAccess.allow(key, for: h)
        #expect(visible() == [f.context.folder.id.rawValue, g.id.rawValue, h.id.rawValue])
        // And one removed goes.
        try FileManager.default.removeItem(atPath: f.state.foldersPath + "/" + g.id.rawValue)
        #expect(visible() == [f.context.folder.id.rawValue, h.id.rawValue])
    }
}
