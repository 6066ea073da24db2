import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine
@testable import SyncProtocol

@Suite struct InviteTests {
    /// A link over a socket pair whose far end serves with `handler`; returns this end's session.
    final class Box: @unchecked Sendable { let handler: RequestHandler; init(_ h: RequestHandler) { handler = h } }
    final class Keys { var list: [PeerKey] = [] }

    func link(_ f: Fixture, _ handler: RequestHandler, body: (Session) throws -> Void) throws {
        let box = Box(handler)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let theirFD = fds[1]
        let theirIdentity = try f.state.identity()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let s = Session(link: Link(FileDescriptorTransport(input: theirFD, output: theirFD)), identity: theirIdentity, dialing: false)
            s.handler = box.handler
            _ = try? s.handshake()
            try? s.serveUntilClosed()
            close(theirFD)
            done.signal()
        }
        thread.start()
        let joiner = try NodeIdentity.loadOrCreate(in: f.base + "/joiner-\(UUID().uuidString)")
        let mine = Session(link: Link(FileDescriptorTransport(input: fds[0], output: fds[0])), identity: joiner, dialing: true)
        try mine.handshake()
        defer {
            try? mine.send(.bye)
            shutdown(fds[0], Int32(SHUT_RDWR))
            done.wait()
            close(fds[0])
        }
        try body(mine)
    }

    func ask(_ s: Session, _ m: (UInt32) -> Message) throws -> Message {
        let id = s.newRequestID()
        try s.send(m(id))
        return try s.next(for: id)
    }

    @Test func anInviteLinkGrantsOneJoinOfItsFolderAndNothingElse() throws {
        let f = try Fixture()
        let folder = f.context.folder.id.rawValue
        let (invite, _) = try Invites(f.state).create(folder: f.context.folder.id, lifetime: 600)
        let accepted = Keys()
        try link(f, InviteHandler(state: f.state, invite: try invite.id) { _, key in accepted.list.append(key) }) { s in
            // Not the index, not content: the answer of a missing folder.
            guard case .error(_, .notFound, "not found") = try ask(s, { .indexRequest(id: $0, folder: folder, since: 0, limit: 10) }) else {
                Issue.record("index served over an invite link"); return
            }
            guard case .end = try ask(s, { .join(id: $0, folder: folder) }) else { Issue.record("join refused"); return }
            // Used up: a second join on the same link is refused.
            guard case .error(_, .notFound, _) = try ask(s, { .join(id: $0, folder: folder) }) else {
                Issue.record("second join granted"); return
            }
        }
        #expect(accepted.list.count == 1)
        #expect(Invites(f.state).active().isEmpty)
        #expect(Invites(f.state).claim(try invite.id) == nil)
    }

    @Test func expiredOrOtherFolderInvitesAreRefusedAlike() throws {
        let f = try Fixture()
        let folder = f.context.folder.id.rawValue
        let past = Date().addingTimeInterval(-3600)
        let (old, _) = try Invites(f.state).create(folder: f.context.folder.id, lifetime: 60, now: past)
        let (other, _) = try Invites(f.state).create(folder: FolderID.random(), lifetime: 600)
        var answers: [Message] = []
        for invite in [old, other] {
            try link(f, InviteHandler(state: f.state, invite: try invite.id) { _, _ in Issue.record("accepted") }) { s in
                answers.append(try ask(s, { .join(id: $0, folder: folder) }))
            }
        }
        #expect(answers == [.error(id: 1, code: .notFound, message: "not found"), .error(id: 1, code: .notFound, message: "not found")])
        // A folder server (a peer's ordinary link) never grants a join either.
        try link(f, FolderServer(state: f.state, peer: HostilePeerTestsPeer.id)) { s in
            let answer = try ask(s, { .join(id: $0, folder: folder) })
            #expect(answer == .error(id: 1, code: .notFound, message: "not found"))
        }
    }

    @Test func tokensRoundTripAndDamageIsRefused() throws {
        let token = InviteToken(user: "me", host: "desk.lan", port: 2222, hostKeyType: "ssh-ed25519",
                                hostKey: Array(repeating: 5, count: 51), nodeKey: Array(repeating: 7, count: 32),
                                folder: FolderID.random(), seed: Array(repeating: 9, count: 32), expires: 1_900_000_000)
        #expect(try InviteToken(text: token.text) == token)
        #expect(try InviteToken(text: " " + token.text + "\n") == token)
        #expect(token.remoteText == "ssh://me@desk.lan:2222/\(token.folder)")
        for bad in ["", "sync-invite-1:", String(token.text.dropLast(5)), token.text.replacingOccurrences(of: "sync-invite-1:", with: "sync-invite-2:"),
                    "sync-invite-1:" + Data(#"{"address":"-oProxyCommand=x:22","hostKey":"a b","node":"","folder":"x","key":"","expires":0}"#.utf8).base64EncodedString()] {
            #expect(throws: SyncError.self) { try InviteToken(text: bad) }
        }
    }

    /// A denied and a missing folder cost the server the same: no timing tell. The requests are
    /// interleaved so that load on the machine falls on both alike; medians are compared.
    @Test func deniedAndMissingFoldersAreAnsweredInTheSameTime() throws {
        let f = try Fixture()
        let denied = f.context.folder.id.rawValue, missing = FolderID.random().rawValue
        var times: [String: [UInt64]] = [denied: [], missing: []]
        try link(f, FolderServer(state: f.state, peer: HostilePeerTestsPeer.id)) { s in
            for round in 0..<1200 {
                for folder in round % 2 == 0 ? [denied, missing] : [missing, denied] {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let answer = try ask(s, { .indexRequest(id: $0, folder: folder, since: 0, limit: 10) })
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    guard case .error(_, .notFound, "not found") = answer else { Issue.record("\(answer)"); return }
                    if round >= 200 { times[folder]!.append(t1 - t0) } // after warming up
                }
            }
        }
        func median(_ xs: [UInt64]) -> Double { Double(xs.sorted()[xs.count / 2]) }
        let d = median(times[denied]!), m = median(times[missing]!)
        #expect(abs(d - m) <= max(20_000, 0.25 * max(d, m)), "median denied \(d) ns, missing \(m) ns")
    }
}

enum HostilePeerTestsPeer {
    static let id = try! NodeID(String(repeating: "q", count: 52))
}
