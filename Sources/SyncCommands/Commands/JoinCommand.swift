import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol
import SyncSSH

public struct JoinCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-join",
        abstract: "Join a folder of another node with the token its sync keys invite printed.",
        discussion: """
            Registers the folder of the token at PATH on this node under the same folder id (PATH is \
            made if it does not exist; files already in it are kept and meet the peer's on the first \
            pull), checks that the peer's sshd shows the host key the token names and pins it, proves \
            this node's key over a login with the token's one-time invite key, and has the peer allow \
            this node for the folder. This node allows the inviting node for the folder in turn and adds it \
            as the folder's peer (sync peer list), so that sync up follows it. The token is used up, on \
            success or not, once the peer has seen it. Nothing is copied yet: bring the files with sync \
            pull and the remote printed, or run sync up.
            """)
    public static let manual = Manual(
        output: "The folder id, then the remote to pull from (HOST:FOLDER-ID or ssh://...).",
        exitStatus: "0 when joined, 1 when the token is void, the peer cannot be reached or refuses, 2 on a usage error.",
        files: stateFiles + " Pinned host keys: SYNC_DIR/node/known_hosts.",
        examples: [("sync join sync-invite-1:eyJhZGRy... ~/Documents", "join the folder the token names, at ~/Documents"),
                   ("sync pull me@desktop.lan:7qk2m4r9x3b5c8dt", "then bring its files")],
        seeAlso: ["sync-keys", "sync-pull", "sync-init"])

    @Argument(help: "The token sync keys invite printed on the other node.")
    var token: String

    @Argument(help: "Where the folder goes on this node.", completion: .directory)
    var path: String

    @Option(help: "A name for the folder on this node.")
    var name: String?

    public init() {}

    public mutating func validate() throws {
        do { _ = try InviteToken(text: token) } catch let e as SyncError { throw ValidationError(e.description) }
    }

    public func run() throws {
        try reporting("sync-join") {
            let state = StateDirectory.fromEnvironment()
            let invite = try InviteToken(text: token)
            guard invite.expires >= Int64(Date().timeIntervalSince1970) else {
                let when = Date(timeIntervalSince1970: Double(invite.expires)).formatted(.iso8601)
                throw SyncError.invalidArgument("the invite expired at \(when); ask for a new one (sync keys invite)")
            }
            let identity = try state.identity()
            guard invite.node != identity.id else { throw SyncError.invalidArgument("the invite is this node's own") }
            var made = false
            if !FileManager.default.fileExists(atPath: path) {
                try FileSystem.makeDirectories(path, mode: 0o755)
                made = true
            }
            // Registered first: every local reason to refuse comes before the one-time token is spent.
            let folder: Folder
            do { folder = try Registry.initFolder(at: path, name: name, id: invite.folder, state: state) } catch {
                if made { rmdir(path) }
                throw error
            }
            do {
                try join(invite, state, folder)
            } catch {
                try? FileManager.default.removeItem(atPath: folder.directory)
                if made { rmdir(path) }
                throw error
            }
            try FolderAccess.allow(PeerKey(rawKey: invite.nodeKey), for: folder)
            try rewriteAuthorizedKeys(state)
            // The inviting node becomes the folder's peer: sync up follows it.
            var joined = try state.folder(folder.id.rawValue)
            try joined.config.add("peer", try invite.remote.description)
            try joined.saveConfig()
            emit(folder.id.rawValue)
            emit(invite.remoteText)
        }
    }

    private func join(_ invite: InviteToken, _ state: StateDirectory, _ folder: Folder) throws {
        let keyPath = state.nodePath + "/invite-\(getpid())"
        try invite.writeKey(to: keyPath)
        defer { unlink(keyPath); unlink(keyPath + ".pub") }
        var dialer = Dialer(state: state)
        dialer.warn = { warn("sync-join: \($0)") }
        dialer.loginKey = keyPath
        dialer.expectedHostKey = HostKey(type: invite.hostKeyType, blob: invite.hostKey)
        let remote = try invite.remote
        let refused = SyncError.invalidArgument(
            "host \(KnownHosts.name(host: invite.host, port: invite.port)): the invite was refused (used, expired or withdrawn); ask for a new one")
        let dialed: Dialer.Dialed
        // sshd no longer knowing the invite key is the usual sign of a used or expired invite.
        do { dialed = try dialer.dial(remote) } catch let e as SSHError where e.kind == .authentication { throw refused }
        guard dialed.peer == invite.node else {
            throw SyncError.invalidArgument("host \(dialed.name): it proved node \(dialed.peer.short), not \(invite.node.short) the invite names")
        }
        let id = dialed.session.newRequestID()
        try dialed.session.send(.join(id: id, folder: invite.folder.rawValue))
        switch try dialed.session.next(for: id) {
        case .end: break
        case .error: throw refused
        default: throw SyncError.invalidArgument("host \(dialed.name): unexpected answer to a join")
        }
        try? dialed.session.send(.bye)
        dialed.connection.finish()
    }
}
