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
            let folder = try Joining.join(invite, at: path, name: name, state: state) { _ in try exchange(invite, state) }
            try rewriteAuthorizedKeys(state)
            emit(folder.id.rawValue)
            emit(invite.remoteText)
        }
    }

    /// Dials the inviting node with the invite's key and asks to join.
    private func exchange(_ invite: InviteToken, _ state: StateDirectory) throws {
        let keyPath = state.nodePath + "/invite-\(getpid())"
        try invite.writeKey(to: keyPath)
        defer { unlink(keyPath); unlink(keyPath + ".pub") }
        var dialer = Dialer(state: state)
        dialer.warn = { warn("sync-join: \($0)") }
        dialer.loginKey = keyPath
        dialer.expectedHostKey = HostKey(type: invite.hostKeyType, blob: invite.hostKey)
        let remote = try invite.remote
        let refused = SyncError.peer(
            "host \(KnownHosts.name(host: invite.host, port: invite.port)): the invite was refused (used, expired or withdrawn); ask for a new one")
        let dialed: Dialer.Dialed
        // sshd no longer knowing the invite key is the usual sign of a used or expired invite.
        do { dialed = try dialer.dial(remote) } catch let e as SSHError where e.kind == .authentication { throw refused }
        do { try Joining.ask(dialed.session, peer: dialed.peer, invite: invite) } catch let e as JoinFailure {
            switch e {
            case .refused: throw refused
            case .otherNode(let node):
                throw SyncError.peer("host \(dialed.name): it proved node \(node.short), not \(invite.node.short) the invite names")
            case .unexpectedAnswer: throw SyncError.peer("host \(dialed.name): unexpected answer to a join")
            }
        }
        try? dialed.session.send(.bye)
        dialed.connection.finish()
    }
}
