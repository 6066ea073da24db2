import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct ServeCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-serve",
        abstract: "Serve this node's folders to one peer over standard input and output.",
        discussion: """
            The SSH forced command that sync keys writes into authorized_keys: sshd runs it for a peer's \
            key, with the peer's node id in --peer. It speaks the framed protocol on standard input and \
            output and never runs a shell; SSH_ORIGINAL_COMMAND is ignored. Every request is authorized \
            against the folder's authorized keys; a folder the peer may not see is answered exactly as a \
            folder that does not exist. When the peer offers a folder this node lets it send, it is pulled \
            over the same link. Diagnostics go to standard error (from warning on, or SYNC_LOG_LEVEL): \
            it reaches the dialing side. This node's own record of the link and of every pull it ran \
            is SYNC_DIR/log/sync-serve.log, from info on (under 1 MiB; the older lines in .1).

            Budgets: a peer holds at most SYNC_MAX_LINKS links (default 16) open to this node at once; a \
            silence of SYNC_CALL_TIMEOUT (default 2m) in the middle of a message, or of SYNC_IDLE_TIMEOUT \
            (default 10m) on a link, ends the link. Every field a peer sends is checked for range and \
            length as it is decoded, a delta signature is stored only for a folder the peer may see and \
            is at most 256 MiB, and no request may come inside a delta request.
            """)
    public static let manual = Manual(
        output: "Protocol frames only. Nothing else is ever written to standard output.",
        exitStatus: "0 when the peer closed the link, 1 when the link broke or the peer failed its handshake, 2 on a usage error.",
        files: stateFiles + " The authorized keys of folder F are in SYNC_DIR/folders/F/authorized_keys.",
        examples: [("restrict,command=\"sync-serve --state-dir ~/.local/share/sync --peer ID\" ssh-ed25519 AAAA...",
                    "the authorized_keys line sync keys allow writes")],
        seeAlso: ["sync-keys", "sync-pull"])

    @Option(help: "The node's state directory (default: SYNC_DIR).", completion: .directory)
    var stateDir: String?

    @Option(help: "The node id of the peer whose key sshd accepted.")
    var peer: String?

    @Option(help: "The id of the invite whose key sshd accepted: only a join of its folder is served.")
    var invite: String?

    @Option(help: "With --invite: the authorized_keys file to rewrite once the invite is used.", completion: .file())
    var authorizedKeys: String?

    public init() {}

    public mutating func validate() throws {
        switch (peer, invite) {
        case (let p?, nil): if (try? NodeID(p)) == nil { throw ValidationError("\(p): not a node id") }
        case (nil, let i?): if (try? NodeID(i)) == nil { throw ValidationError("\(i): not an invite id") }
        default: throw ValidationError("give exactly one of --peer and --invite")
        }
        if authorizedKeys != nil && invite == nil { throw ValidationError("--authorized-keys goes with --invite") }
    }

    public func run() throws {
        // Standard output carries frames: nothing else may be written there.
        signal(SIGPIPE, SIG_IGN)
        try reporting("sync-serve") {
            let state = stateDir.map { StateDirectory(root: $0) } ?? .fromEnvironment()
            let settings = try LinkSettings.fromEnvironment()
            if let invite {
                let file = authorizedKeys.map { AuthorizedKeysFile(path: $0) } ?? .fromEnvironment()
                return try Serving.invite(try NodeID(invite), state: state, settings: settings, transport: FileDescriptorTransport()) { folder, key in
                    try FolderAccess.allow(key, for: folder)
                    try rewriteAuthorizedKeys(state, file: file)
                }
            }
            // Standard error reaches the dialing side only when the link ends: problems only. This
            // node's own record of the link and its pulls is SYNC_DIR/log/sync-serve.log.
            let log = makeLogger("sync-serve", defaultLevel: .warning, file: state.root + "/log/sync-serve.log")
            StopSignal.install()
            try Serving.peer(try NodeID(peer!), state: state, settings: settings, transport: FileDescriptorTransport(),
                             log: log, stopRequested: { StopSignal.requested })
        }
    }
}
