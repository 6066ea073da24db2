import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine
@testable import SyncGit
@testable import SyncProtocol

/// A peer that answers with crafted frames, on the other end of a socket pair.
final class HostilePeer: RequestHandler, @unchecked Sendable {
    var entries: [WireEntry] = []
    var contents: [String: [UInt8]] = [:]
    var delta: [UInt8] = [0x72, 0x73, 0x02, 0x36, 0x45] // the delta magic, then a command cut short
    /// Chunk manifests answered, by path (none: "no manifest here").
    var manifests: [String: [UInt8]] = [:]
    var oversizedFor: String?
    /// The sequence the index answer ends with (default: the number of rows), and whether it says more follow.
    var endSequence: Int64?
    var more = false
    /// Send this many bytes of a file's content (of `cutPath` only, when given), then drop the link.
    var cutAfter: Int?
    var cutPath: String?
    /// The offsets content was asked from, by path.
    var offsets: [String: [Int64]] = [:]
    /// A content request from this offset is answered `changed` (the file changed here meanwhile).
    var refuseOffset: Int64?
    /// The authored histories it says it keeps (none by default), and what answers the history
    /// requests after that (nothing: an error).
    var tips: [HistoryTip] = []
    var historyAnswer: ((Message, Session) throws -> Void)?
    struct Cut: Error {}
    let transport: FileDescriptorTransport

    init(transport: FileDescriptorTransport) { self.transport = transport }

    func serve(_ request: Message, on session: Session) throws {
        switch request {
        case .indexRequest(let id, _, _, _):
            for i in stride(from: 0, to: max(entries.count, 1), by: 200) {
                try session.send(.entries(id: id, Array(entries[i..<min(i + 200, entries.count)])))
            }
            try session.send(.indexEnd(id: id, epoch: "e", sequence: endSequence ?? Int64(entries.count), more: more))
        case .contentRequest(let id, _, let path, _, let offset, let length):
            offsets[path, default: []].append(offset)
            if offset == refuseOffset {
                return try session.send(.error(id: id, code: .changed, message: "\(path) changed"))
            }
            if path == oversizedFor {
                try transport.write([0xff, 0xff, 0xff, 0xff, 1, 2, 3])
                return
            }
            var rest = Array((contents[path] ?? []).dropFirst(Int(offset)))
            if length > 0 { rest = Array(rest.prefix(Int(length))) }
            let cutting = cutAfter != nil && (cutPath == nil || cutPath == path)
            if cutting, let cut = cutAfter { rest = Array(rest.prefix(cut)) }
            var i = 0
            repeat {
                try session.send(.data(id: id, Array(rest[i..<min(i + Frame.chunkSize, rest.count)])))
                i += Frame.chunkSize
            } while i < rest.count
            if cutting { throw Cut() }
            try session.send(.end(id: id))
        case .deltaRequest(let id, _, _, _):
            while case .data = try session.next(for: id) {}
            try session.send(.data(id: id, delta))
            try session.send(.end(id: id))
        case .manifestRequest(let id, _, let path, _):
            guard let m = manifests[path] else { return try session.send(.error(id: id, code: .failed, message: "none")) }
            for i in stride(from: 0, to: m.count, by: Frame.chunkSize) {
                try session.send(.data(id: id, Array(m[i..<min(i + Frame.chunkSize, m.count)])))
            }
            try session.send(.end(id: id))
        case .offer(let id, _, _):
            try session.send(.end(id: id))
        case .historyTipsRequest(let id, _):
            try session.send(.historyTips(id: id, tips))
        case .historyChainRequest(let id, _, _, _, _, _), .objectsRequest(let id, _, _):
            guard let historyAnswer else { return try session.send(.error(id: id, code: .notFound, message: "none")) }
            try historyAnswer(request, session)
        default:
            break
        }
    }

    static func entry(_ path: String, _ content: [UInt8], seq: Int64, hash: String? = nil, after: String? = nil) -> WireEntry {
        WireEntry(path: path, kind: "file", hash: hash ?? HistoryRepository.hash(content).hex, size: Int64(content.count),
                  mtimeNs: 1_700_000_000_000_000_000, executable: false, symlinkTarget: nil, deleted: false,
                  version: (after.map { "\($0):1," } ?? "") + "\(peerID):\(seq)", sequence: seq)
    }

    static let peerID = String(repeating: "q", count: 52)
}

@Suite struct HostilePeerTests {
    /// Runs a pull of the fixture's folder against `configure`d hostile peer; returns the outcome or the error.
    func pull(_ f: Fixture, _ configure: (HostilePeer) -> Void) throws -> Result<PullOutcome, Error> {
        try pull(f, configure, seen: { _ in })
    }

    func pull(_ f: Fixture, _ configure: (HostilePeer) -> Void, seen: (HostilePeer) -> Void,
              prepare: (Puller) -> Void = { _ in }) throws -> Result<PullOutcome, Error> {
        try pull(f.context, identity: try f.state.identity(), base: f.base, configure, seen: seen, prepare: prepare)
    }

    /// A pull into `context` (a node of identity `identity`; the peer's key goes in `base`) from a
    /// `configure`d hostile peer.
    func pull(_ context: FolderContext, identity: NodeIdentity, base: String, _ configure: (HostilePeer) -> Void,
              seen: (HostilePeer) -> Void = { _ in }, prepare: (Puller) -> Void = { _ in }) throws -> Result<PullOutcome, Error> {
        signal(SIGPIPE, SIG_IGN) // a peer that drops the link must not kill the test process
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let theirFD = fds[1]
        let theirs = FileDescriptorTransport(input: theirFD, output: theirFD)
        let hostile = HostilePeer(transport: theirs)
        configure(hostile)
        let theirIdentity = try NodeIdentity.loadOrCreate(in: base + "/hostile-node")
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let s = Session(link: Link(theirs), identity: theirIdentity, dialing: false)
            s.handler = hostile
            _ = try? s.handshake()
            try? s.serveUntilClosed()
            close(theirFD)
            done.signal()
        }
        thread.start()
        let mine = Session(link: Link(FileDescriptorTransport(input: fds[0], output: fds[0])),
                           identity: identity, dialing: true)
        let peer = try mine.handshake()
        let puller = Puller(context: context, remote: RemoteFolder(session: mine, folder: context.folder.id.rawValue), peer: peer)
        prepare(puller)
        let result = Result { try puller.run() }
        try? mine.send(.bye)
        shutdown(fds[0], Int32(SHUT_RDWR))
        done.wait()
        close(fds[0])
        seen(hostile)
        return result
    }

    /// Every path under `dir`, temporary files included.
    func listing(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func craftedEntriesAreRefusedAndTheRestIsApplied() throws {
        let f = try Fixture()
        let outside = f.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/link", withDestinationPath: outside)
        let big = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try Data(big).write(to: URL(fileURLWithPath: f.root + "/big.bin"))
        _ = try f.commit()
        var newBig = big
        newBig[100_000] ^= 0xff
        let ok = Array("fine\n".utf8)
        let me = try f.state.identity().id.rawValue
        let result = try pull(f) { h in
            h.entries = [
                HostilePeer.entry("../escape.txt", ok, seq: 1),
                HostilePeer.entry("/etc/evil", ok, seq: 2),
                HostilePeer.entry("link/through.txt", ok, seq: 3),
                HostilePeer.entry("a\u{0}b", ok, seq: 4),
                HostilePeer.entry("a//b", ok, seq: 5),
                HostilePeer.entry("liar.txt", Array("promised\n".utf8), seq: 6),
                HostilePeer.entry("big.bin", newBig, seq: 7, after: me),
                HostilePeer.entry("ok.txt", ok, seq: 8),
                HostilePeer.entry("huge.txt", ok, seq: 9, hash: String(repeating: "z", count: 40)),
            ]
            h.contents = ["liar.txt": Array("delivers\n".utf8), "ok.txt": ok, "big.bin": newBig,
                          "../escape.txt": ok, "link/through.txt": ok]
        }
        let outcome = try result.get()
        let problems = outcome.problems.map(\.description).joined(separator: "\n")
        for p in ["../escape.txt", "/etc/evil", "link/through.txt", "a//b", "huge.txt"] {
            #expect(problems.contains("refused \(p)") || problems.contains("refused \"\(p)\""), "\(p): \(problems)")
        }
        #expect(problems.contains("refused \"a\\000b\""), "\(problems)")
        #expect(problems.contains("liar.txt\": content from peer does not match its hash") || problems.contains("liar.txt: content from peer does not match its hash"), "\(problems)")
        // Nothing outside, nothing half-written inside; the honest files arrived.
        #expect(listing(outside).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.base + "/escape.txt"))
        #expect(!FileManager.default.fileExists(atPath: f.root + "/liar.txt"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.root + "/ok.txt")) == Data(ok))
        // The truncated delta was refused by its hash; the whole file came instead.
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.root + "/big.bin")) == Data(newBig))
        #expect(!listing(f.root).contains { $0.contains(".sync-tmp-") }, "\(listing(f.root))")
        #expect(try f.context.index.entry(RelativePath("ok.txt"))?.hash == HistoryRepository.hash(ok).hex)
        #expect(try f.context.index.entry(RelativePath("liar.txt")) == nil)
    }

    /// A "/" that Swift's characters join to the scalar after it (a combining mark) or before it
    /// (a prepended one) still separates components on disk: such a path is split on its bytes,
    /// and through a link it is refused like any other, with nothing written outside.
    @Test func aSlashJoinedToAMarkStillSeparatesComponents() throws {
        let f = try Fixture()
        let outside = f.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/link", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/p\u{600}", withDestinationPath: outside)
        _ = try f.commit()
        let ok = Array("fine\n".utf8)
        let paths = ["link/\u{338}x", "p\u{600}/y", "link/\u{338}/z", "d/\u{338}", "d/e\u{600}/f"]
        let result = try pull(f) { h in
            h.entries = paths.enumerated().map { HostilePeer.entry($1, ok, seq: Int64($0 + 1)) }
            h.contents = Dictionary(uniqueKeysWithValues: paths.map { ($0, ok) })
        }
        let outcome = try result.get()
        let problems = outcome.problems.map(\.description).joined(separator: "\n")
        #expect(listing(outside).isEmpty, "\(listing(outside))")
        for p in ["link/\u{338}x", "p\u{600}/y", "link/\u{338}/z"] {
            #expect(problems.contains("refused"), "\(p): \(problems)")
            #expect(try f.context.index.entry(RelativePath(p)) == nil, "\(p)")
        }
        // Inside a real directory they are ordinary paths: the file lands below it.
        #expect(FileManager.default.contents(atPath: f.root + "/d/\u{338}").map(Array.init) == ok)
        #expect(FileManager.default.contents(atPath: f.root + "/d/e\u{600}/f").map(Array.init) == ok)
        #expect(try f.context.index.entry(RelativePath("d/\u{338}"))?.hash == HistoryRepository.hash(ok).hex)
    }

    @Test func anOversizedFrameEndsThePullWithNothingHalfWritten() throws {
        let f = try Fixture()
        let content = Array("some content\n".utf8)
        let result = try pull(f) { h in
            h.entries = [HostilePeer.entry("x.txt", content, seq: 1)]
            h.oversizedFor = "x.txt"
        }
        guard case .failure(let error) = result else { Issue.record("the pull went through"); return }
        #expect(error as? ProtocolError == .frameTooLarge(0xffff_ffff))
        #expect(listing(f.root).isEmpty, "\(listing(f.root))")
        #expect(try f.context.index.entry(RelativePath("x.txt")) == nil)
    }

    @Test func aCutTransferResumesWhereItStopped() throws {
        let f = try Fixture()
        // Above the size fetched ahead in windows, so it streams into its own temporary file.
        let content = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let entry = HostilePeer.entry("big.bin", content, seq: 1)
        let first = try pull(f) { h in
            h.entries = [entry]
            h.contents = ["big.bin": content]
            h.cutAfter = 1_000_000
        }
        guard case .failure = first else { Issue.record("the cut pull went through"); return }
        let partial = listing(f.root).filter { $0.hasPrefix(".sync-tmp-") }
        #expect(partial.count == 1, "\(listing(f.root))")
        #expect(!FileManager.default.fileExists(atPath: f.root + "/big.bin"))
        var asked: [Int64] = []
        let second = try pull(f, { h in
            h.entries = [entry]
            h.contents = ["big.bin": content]
        }, seen: { asked = $0.offsets["big.bin"] ?? [] })
        let outcome = try second.get()
        #expect(asked.count == 1 && asked[0] >= 1_000_000 - Int64(Frame.chunkSize) && asked[0] <= 1_000_000, "\(asked)")
        #expect(outcome.contentBytes == Int64(content.count) - asked[0])
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.root + "/big.bin")) == Data(content))
        #expect(!listing(f.root).contains { $0.hasPrefix(".sync-tmp-") })
    }

    /// A delta whose few bytes ask for gigabytes (copy commands of the whole basis, 50,000 times)
    /// is given up at the announced size, and the file comes whole and right.
    @Test func aDeltaThatExpandsPastItsSizeFallsBackToTheWholeFile() throws {
        let f = try Fixture()
        let old = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try Data(old).write(to: URL(fileURLWithPath: f.root + "/big.bin"))
        _ = try f.commit()
        let me = try f.state.identity().id.rawValue
        let new = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 1) }
        let delta: [UInt8] = [0x72, 0x73, 0x02, 0x36] + Array(repeating: [0x47, 0x00, 0x00, 0x03, 0x0d, 0x40], count: 50_000).joined() + [0x00]
        let outcome = try pull(f) { h in
            h.entries = [HostilePeer.entry("big.bin", new, seq: 1, after: me)]
            h.contents = ["big.bin": new]
            h.delta = delta
        }.get()
        #expect(!outcome.held, "\(outcome.problems)")
        #expect(outcome.contentBytes == Int64(delta.count + new.count), "the delta, then the whole file")
        #expect(FileManager.default.contents(atPath: f.root + "/big.bin") == Data(new))
        #expect(!listing(f.root).contains { $0.hasPrefix(".sync-tmp-") })
    }

    /// A pull of `new` over the fixture's `old` big.bin, from a peer that sends `manifest` for it
    /// (and a garbage delta).
    func pullBig(_ old: [UInt8], _ new: [UInt8], manifest: [UInt8]) throws -> (Fixture, Result<PullOutcome, Error>) {
        let f = try Fixture()
        try Data(old).write(to: URL(fileURLWithPath: f.root + "/big.bin"))
        _ = try f.commit()
        let me = try f.state.identity().id.rawValue
        let result = try pull(f) { h in
            h.entries = [HostilePeer.entry("big.bin", new, seq: 1, after: me)]
            h.contents = ["big.bin": new]
            h.manifests = ["big.bin": manifest]
        }
        return (f, result)
    }

    /// A peer's manifest that names a chunk of ours for bytes that are not (the file made then
    /// does not match its id), names a fetched chunk by another id (caught as it comes), or is not
    /// a manifest at all: the file still comes right (here whole: this peer's delta is garbage).
    @Test func aLyingManifestCostsTheTransferNotTheFile() throws {
        let old = ChunkManifestTests.random(17 << 20, seed: 21)
        var new = old
        new[8 << 20] ^= 0x01
        let oldChunks = ChunkManifestTests.manifest(old)
        let real = ChunkManifestTests.manifest(new)
        let changed = try #require(real.chunks.firstIndex { c in !oldChunks.chunks.contains { $0.id == c.id } })
        func lying(_ id: [UInt8]) -> [UInt8] {
            var chunks = real.chunks
            chunks[changed] = ChunkManifest.Chunk(length: chunks[changed].length, id: id)
            return ChunkManifest(shift: real.shift, size: real.size, chunks: chunks).encoded
        }
        let cases: [(String, [UInt8])] = [
            ("a chunk of ours for other bytes", lying(oldChunks.chunks[0].id)),
            ("a fetched chunk under another id", lying([UInt8](repeating: 0, count: 20))),
            ("not a manifest", [1, 2, 3]),
            ("another file's", ChunkManifestTests.manifest(Array(new.dropLast())).encoded),
        ]
        for (what, manifest) in cases {
            let (f, result) = try pullBig(old, new, manifest: manifest)
            let outcome = try result.get()
            #expect(!outcome.held, "\(what): \(outcome.problems)")
            #expect(outcome.filesFromChunks == 0, "\(what)")
            #expect(FileManager.default.contents(atPath: f.root + "/big.bin") == Data(new), "\(what)")
            #expect(!listing(f.root).contains { $0.hasPrefix(".sync-tmp-") }, "\(what)")
        }
        // The true manifest: one chunk fetched, the rest copied here.
        let (f, result) = try pullBig(old, new, manifest: real.encoded)
        let outcome = try result.get()
        #expect(outcome.filesFromChunks == 1)
        #expect(outcome.contentBytes == Int64(real.chunks[changed].length))
        #expect(FileManager.default.contents(atPath: f.root + "/big.bin") == Data(new))
    }

    /// A manifest answer past the bound is not read on: the pull stops there, and the file is left
    /// as it was.
    @Test func aManifestPastItsBoundIsRefused() throws {
        let old = ChunkManifestTests.random(17 << 20, seed: 22)
        var new = old
        new[1] ^= 1
        let (f, result) = try pullBig(old, new, manifest: [UInt8](repeating: 1, count: ChunkManifest.maxBytes + 1))
        switch result {
        case .success(let outcome): #expect(outcome.held && outcome.filesFromChunks == 0, "\(outcome.problems)")
        case .failure(let e): #expect(e is ProtocolError, "\(e)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.root + "/big.bin")) == Data(old))
    }

    @Test func aFloodOfNoticesTakesBoundedMemory() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let (mineFD, theirFD) = (fds[0], fds[1])
        let identity = try NodeIdentity.loadOrCreate(in: NSTemporaryDirectory() + "/flood-" + UUID().uuidString)
        let writer = Thread {
            let link = Link(FileDescriptorTransport(input: theirFD, output: theirFD))
            for i in 0..<10_000 { try? link.send(.notice(folder: "f\(i % 500)", sequence: Int64(i), echoFrom: Int64(i))) }
            try? link.send(.bye)
        }
        writer.start()
        let session = Session(link: Link(FileDescriptorTransport(input: mineFD, output: mineFD)), identity: identity, dialing: true)
        while try session.handleNext() {}
        // The latest notice of each folder, and no more than 64 folders.
        #expect(session.notices.count == 64)
        #expect(session.notices.first == Notice(folder: "f0", sequence: 9500, echoFrom: 9500))
        close(mineFD)
        close(theirFD)
    }
}
