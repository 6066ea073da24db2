import Foundation
import Logging
import SyncCore
import SyncProtocol

/// The serving end of a link, as sync-serve runs it for sshd over its standard input and output.
public enum Serving {
    /// Serves the peer whose key sshd accepted (`expected`) until it closes the link: takes one of
    /// its link slots first (refusing beyond `settings.maxLinks`), checks that it proves that node,
    /// answers its requests and pulls what it offers. `log` is this node's record of the link.
    public static func peer(_ expected: NodeID, state: StateDirectory, settings: LinkSettings, transport: Transport,
                            log: Logger, stopRequested: @escaping @Sendable () -> Bool) throws {
        // A peer holds at most so many links here at once, before it costs anything more.
        guard let slot = try LinkSlots.take(state, peer: expected, limit: settings.maxLinks) else {
            throw SyncError.peer("peer \(expected.short): already \(settings.maxLinks) links open (SYNC_MAX_LINKS); refusing another")
        }
        defer { _ = slot }
        let session = Session(link: Link(transport, callTimeout: settings.callTimeout), identity: try state.identity(), dialing: false)
        let proven = try session.handshake(names: NodeNames(state))
        guard proven == expected else {
            throw SyncError.peer("peer proved node \(proven.short), but its SSH key is that of \(expected.short)")
        }
        let server = FolderServer(state: state, peer: proven)
        server.pullOnOffer(state: state, peer: proven, log: log)
        session.handler = server
        let loop = LinkLoop(session: session, server: server, state: state, peer: proven, following: [])
        loop.idleTimeout = settings.idleTimeout
        loop.keepalive = settings.keepalive
        loop.log = log
        loop.stopRequested = stopRequested
        do { try loop.run() } catch let e as ProtocolError {
            throw SyncError.peer("peer \(proven.short): \(e)")
        }
    }

    /// Serves a link opened with an invite key: the peer proves its node key and may ask once to
    /// join the invite's folder; `accept` then allows its key for the folder (the invite is used up).
    public static func invite(_ invite: NodeID, state: StateDirectory, settings: LinkSettings, transport: Transport,
                              accept: @escaping (Folder, PeerKey) throws -> Void) throws {
        let session = Session(link: Link(transport, callTimeout: settings.callTimeout), identity: try state.identity(), dialing: false)
        let proven = try session.handshake(names: NodeNames(state))
        session.handler = InviteHandler(state: state, invite: invite, accept: accept)
        do { try session.serveUntilClosed() } catch let e as ProtocolError {
            throw SyncError.peer("invite \(invite.short), node \(proven.short): \(e)")
        }
    }
}
