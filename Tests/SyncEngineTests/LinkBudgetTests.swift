import Foundation
import Testing
@testable import SyncCore
@testable import SyncProtocol
@testable import SyncEngine

/// Time and link budgets: a peer silent in the middle of a frame, a kept link gone quiet, and a
/// peer that opens link after link.
@Suite struct LinkBudgetTests {
    func pair() -> (Int32, Int32) {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    @Test func silenceInTheMiddleOfAFrameEndsTheWaitAtTheCallTimeout() throws {
        let (mine, theirs) = pair()
        defer { close(mine); close(theirs) }
        // A header announcing 100 bytes, 10 of them, then nothing.
        _ = ([0, 0, 0, 100] + [UInt8](repeating: 50, count: 10)).withUnsafeBytes { write(theirs, $0.baseAddress, $0.count) }
        let link = Link(FileDescriptorTransport(input: mine, output: mine), callTimeout: 0.5)
        let start = Date()
        #expect(throws: ProtocolError.timedOut(1)) { _ = try link.receive() }
        let took = Date().timeIntervalSince(start)
        #expect(took >= 0.45 && took < 5, "\(took) s")
    }

    @Test func bytesThatKeepComingKeepTheCallAlive() throws {
        let (mine, theirs) = pair()
        defer { close(mine); close(theirs) }
        let payload = Message.data(id: 1, Array(repeating: 9, count: 1000)).encoded()
        let frame = Frame.header(payload.count) + payload
        let writer = Thread {
            // Slower in all than the timeout, but never silent for as long.
            for chunk in stride(from: 0, to: frame.count, by: 100) {
                let piece = Array(frame[chunk..<min(chunk + 100, frame.count)])
                _ = piece.withUnsafeBytes { write(theirs, $0.baseAddress, $0.count) }
                usleep(60_000)
            }
        }
        writer.start()
        let link = Link(FileDescriptorTransport(input: mine, output: mine), callTimeout: 0.3)
        #expect(try link.receive() == .data(id: 1, Array(repeating: 9, count: 1000)))
    }

    @Test func aKeptLinkThatGoesSilentIsClosedAtTheIdleTimeout() throws {
        let f = try Fixture()
        let (mine, theirs) = pair()
        defer { close(mine); close(theirs) }
        let peer = try NodeIdentity.loadOrCreate(in: f.base + "/p")
        let handshake = Thread {
            let s = Session(link: Link(FileDescriptorTransport(input: theirs, output: theirs)), identity: peer, dialing: true)
            _ = try? s.handshake() // then silent
        }
        handshake.start()
        let session = Session(link: Link(FileDescriptorTransport(input: mine, output: mine), callTimeout: 5),
                              identity: try f.state.identity(), dialing: false)
        let proven = try session.handshake()
        let server = FolderServer(state: f.state, peer: proven)
        session.handler = server
        let loop = LinkLoop(session: session, server: server, state: f.state, peer: proven, following: [])
        loop.idleTimeout = 1
        let start = Date()
        #expect(throws: ProtocolError.timedOut(1)) { try loop.run() }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func aPeerHoldsAtMostItsLimitOfLinks() throws {
        let f = try Fixture()
        let peer = try NodeIdentity.loadOrCreate(in: f.base + "/p").id
        let other = try NodeIdentity.loadOrCreate(in: f.base + "/o").id
        var held = try (0..<3).compactMap { _ in try LinkSlots.take(f.state, peer: peer, limit: 3) }
        #expect(held.count == 3)
        #expect(try LinkSlots.take(f.state, peer: peer, limit: 3) == nil)
        // Another peer has its own slots; a link that ends frees its slot.
        #expect(try LinkSlots.take(f.state, peer: other, limit: 3) != nil)
        held.removeFirst()
        #expect(try LinkSlots.take(f.state, peer: peer, limit: 3) != nil)
    }
}

extension LinkBudgetTests {
    /// A followed folder the peer does not show is asked for again every `resubscribe` seconds
    /// while the link goes on for the others; once the peer shows it, it is followed and caught up.
    @Test func aRefusedFolderIsAskedForAgainAndFollowedOnceShown() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-resubscribe-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let a = try PullerPropertyTests.Node(base: base + "/a", id: nil)
        let b = try PullerPropertyTests.Node(base: base + "/b", id: a.context.folder.id)
        // A second folder on both: A lets B see it only later.
        for p in [base + "/a/g", base + "/b/g"] { try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true) }
        let later = try Registry.initFolder(at: base + "/a/g", state: a.state)
        let laterHere = try Registry.initFolder(at: base + "/b/g", id: later.id, state: b.state)
        try FolderAccess.allow(PeerKey(line: b.identity.publicKeyLine), for: a.context.folder)
        try Data("later\n".utf8).write(to: URL(fileURLWithPath: base + "/a/g/later.txt"))
        _ = try Committer(try FolderContext(later, state: a.state)).commit(paths: nil)

        let (mine, theirs) = pair()
        defer { close(mine); close(theirs) }
        let (identityA, stateA, keyB) = (a.identity, a.state, b.identity.publicKeyLine)
        let serving = Thread {
            let s = Session(link: Link(FileDescriptorTransport(input: theirs, output: theirs)), identity: identityA, dialing: false)
            guard let proven = try? s.handshake() else { return }
            s.handler = FolderServer(state: stateA, peer: proven)
            try? s.serveUntilClosed()
        }
        serving.start()
        let session = Session(link: Link(FileDescriptorTransport(input: mine, output: mine), callTimeout: 5), identity: b.identity, dialing: true)
        let proven = try session.handshake()
        let server = FolderServer(state: b.state, peer: proven)
        session.handler = server
        let loop = LinkLoop(session: session, server: server, state: b.state, peer: proven, following: [b.context.folder, laterHere])
        loop.resubscribe = 0.5
        loop.keepalive = 0.2
        let arrived = base + "/b/g/later.txt"
        let started = Date()
        final class Flag: @unchecked Sendable { var on = false }
        let allowed = Flag()
        loop.stopRequested = {
            // Shown after a first refusal (a second in, the refusal has been met).
            if !allowed.on, Date().timeIntervalSince(started) > 1 {
                allowed.on = true
                _ = try? FolderAccess.allow(PeerKey(line: keyB), for: later)
            }
            return FileManager.default.fileExists(atPath: arrived) || Date().timeIntervalSince(started) > 15
        }
        try loop.run()
        #expect(allowed.on)
        #expect(FileManager.default.contents(atPath: arrived) == Data("later\n".utf8))
        #expect(Date().timeIntervalSince(started) < 15)
    }
}
