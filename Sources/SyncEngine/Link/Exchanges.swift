import Foundation
import SyncCore
import SyncProtocol

/// How the peer answered an offer of this node's changes (`sync pull` offers after its pull).
public enum OfferAnswer: Equatable, Sendable {
    /// It pulled them.
    case taken
    /// It does not let this node send it the folder (a one-way allow).
    case notAllowed
    /// It pulled, and says what went wrong, a line each.
    case problems([String])
}

/// Why the inviting node turned a join down.
public enum JoinFailure: Error, Equatable, Sendable {
    /// The invite is used, expired or withdrawn.
    case refused
    /// The node at the invite's address proved another identity.
    case otherNode(NodeID)
    /// An answer that is not one to a join.
    case unexpectedAnswer
}

extension RemoteFolder {
    /// Offers this node's changes up to `sequence`: the peer pulls them over this link.
    public func offer(sequence: Int64) throws -> OfferAnswer {
        let id = session.newRequestID()
        try session.send(.offer(id: id, folder: folder, sequence: sequence))
        switch try session.next(for: id) {
        case .end: return .taken
        case .error(_, .notFound, _): return .notAllowed
        case .error(_, _, let m): return .problems(m.split(separator: "\n").map(String.init))
        default: throw ProtocolError.unexpected("an answer to an offer")
        }
    }
}

/// Joining a folder with an invite: registered here first (every local reason to refuse comes
/// before the one-time token is spent), then asked of the inviting node; undone whole when that
/// fails. The inviting node becomes the folder's peer.
public enum Joining {
    /// The join exchange on a session with the inviting node, which must be `invite.node`.
    public static func ask(_ session: Session, peer: NodeID, invite: InviteToken) throws {
        guard peer == invite.node else { throw JoinFailure.otherNode(peer) }
        let id = session.newRequestID()
        try session.send(.join(id: id, folder: invite.folder.rawValue))
        switch try session.next(for: id) {
        case .end: return
        case .error: throw JoinFailure.refused
        default: throw JoinFailure.unexpectedAnswer
        }
    }

    /// Registers the invite's folder at `path` (made when missing), runs `exchange` (the dial and
    /// `ask`), then allows the inviting node and names it the folder's peer. Returns the folder.
    public static func join(_ invite: InviteToken, at path: String, name: String?, state: StateDirectory,
                            exchange: (Folder) throws -> Void) throws -> Folder {
        guard invite.expires >= Int64(Date().timeIntervalSince1970) else {
            let when = Date(timeIntervalSince1970: Double(invite.expires)).formatted(.iso8601)
            throw SyncError.refused("the invite expired at \(when); ask for a new one (sync keys invite)")
        }
        guard invite.node != (try state.identity().id) else { throw SyncError.refused("the invite is this node's own") }
        var made = false
        if !FileManager.default.fileExists(atPath: path) {
            try FileSystem.makeDirectories(path, mode: 0o755)
            made = true
        }
        let folder: Folder
        do { folder = try Registry.initFolder(at: path, name: name, id: invite.folder, state: state) } catch {
            if made { rmdir(path) }
            throw error
        }
        do {
            try exchange(folder)
        } catch {
            try? FileManager.default.removeItem(atPath: folder.directory)
            if made { rmdir(path) }
            throw error
        }
        try FolderAccess.allow(PeerKey(rawKey: invite.nodeKey), for: folder)
        var joined = try state.folder(folder.id.rawValue)
        try joined.config.add("peer", try invite.remote.description)
        try joined.saveConfig()
        return joined
    }
}
