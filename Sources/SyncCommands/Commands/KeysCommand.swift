import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncSSH

public struct KeysCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-keys",
        abstract: "Show this node's identity and manage which peers may see each folder.",
        discussion: """
            `id` prints this node's id (the base32 SHA-256 of its ed25519 public key) and its public key \
            line, creating the key pair on first use. `name [NAME]` prints or sets the name this node \
            gives itself to peers (the host name until set), which they show in sync status, sync peer \
            list and sync conflicts instead of its id. `allow FOLDER KEY` lets the peer with KEY see FOLDER; \
            `deny FOLDER KEY` takes that away at once (a link already open loses the folder on its next \
            request); `list FOLDER` prints the allowed keys. `invite FOLDER` prints a one-line token for \
            sync join on another machine: this node's address (--address, default USER@HOSTNAME; a port \
            left out is the one ~/.ssh/config gives that host, else the Port of this machine's sshd_config, \
            else 22), the host key its sshd shows (--host-key, default the first ed25519 HostKey of \
            /etc/ssh/sshd_config with .pub, else /etc/ssh/ssh_host_ed25519_key.pub), this node's \
            key, the folder id and a one-time invite key. The invite key gets its own line in the \
            managed block, whose forced command can only let its holder join that folder, once, before \
            it expires (--expires, default 24h); the node that joins is then allowed like a key given \
            to allow, and the invite line is removed. Anyone holding the token can join the folder \
            until then: hand it over as you would a password. What the folder holds is recorded (as sync \
            commit does) before the token is made, so that the first pull on the other machine brings it. KEY is an OpenSSH ssh-ed25519 public key line, \
            a file holding one, or the node id of a key already allowed for some folder. allow and deny \
            rewrite this node's managed block in the authorized_keys file (SYNC_AUTHORIZED_KEYS, else \
            ~/.ssh/authorized_keys): one line per peer key allowed for any folder, restricted to the forced \
            command sync-serve beside this program. Lines outside the block are kept as they are; the file \
            is replaced atomically with mode 0600.
            """)
    public static let manual = Manual(
        output: """
            `id`: the node id on the first line, then the OpenSSH public key line, then its SHA256 \
            fingerprint. `list`: one line per key, `NODE-ID ssh-ed25519 BASE64 COMMENT`. `allow`/`deny`: \
            `allowed NODE-ID` / `denied NODE-ID`, or `unchanged NODE-ID`. `invite`: the token, one line. `name`: the node's name.
            """,
        files: """
            SYNC_DIR/node/id_ed25519 (OpenSSH private key, mode 0600) and id_ed25519.pub; \
            SYNC_DIR/folders/ID/authorized_keys (the keys allowed for a folder); the authorized_keys file \
            named by SYNC_AUTHORIZED_KEYS, else ~/.ssh/authorized_keys.
            """,
        examples: [("sync keys id", "print this node's id and public key"),
                   ("sync keys name laptop", "name this node laptop for its peers"),
                   ("sync keys allow ~/Documents laptop.pub", "let the node whose key is in laptop.pub see ~/Documents"),
                   ("sync keys deny ~/Documents NODE-ID", "take it away again"),
                   ("sync keys invite ~/Documents --address me@desktop.lan", "print a token for sync join on the laptop")],
        seeAlso: ["sync-join", "sync-serve", "sync-pull", "sshd(8)"])

    @Argument(help: "What to do: id, name, allow, deny, list or invite.", completion: .list(["id", "name", "allow", "deny", "list", "invite"]))
    var action: String

    @Argument(help: "The folder (allow, deny, list, invite): its id, path or name.", completion: .directory)
    var folder: String?

    @Argument(help: "The peer's key (allow, deny): a public key line, a file with one, or a known node id.", completion: .file())
    var key: String?

    @Option(help: "invite: where the other machine reaches this node's sshd, [USER@]HOST[:PORT].")
    var address: String?

    @Option(help: "invite: the public host key file of this node's sshd.", completion: .file())
    var hostKey: String?

    @Option(help: "invite: how long the token may be used, e.g. 30m, 24h, 7d.")
    var expires: String?

    public init() {}

    public mutating func validate() throws {
        switch action {
        case "id": guard folder == nil else { throw ValidationError("id takes no further arguments") }
        case "name": guard key == nil else { throw ValidationError("usage: sync keys name [NAME]") }
        case "list", "invite": guard folder != nil, key == nil else { throw ValidationError("usage: sync keys \(action) FOLDER") }
        case "allow", "deny": guard folder != nil, key != nil else { throw ValidationError("usage: sync keys \(action) FOLDER KEY") }
        default: throw ValidationError("unknown action '\(action)'; known: id, name, allow, deny, list, invite")
        }
        if action != "invite" && (address != nil || hostKey != nil || expires != nil) {
            throw ValidationError("--address, --host-key and --expires go with invite")
        }
        if let e = expires, (Units.duration(e) ?? 0) < 1 { throw ValidationError("--expires \(e): not a duration such as 30m, 24h or 7d") }
        if let a = address, (try? Self.parseAddress(a)) == nil {
            throw ValidationError("--address \(a): not [USER@]HOST[:PORT]")
        }
    }

    /// `[USER@]HOST[:PORT]`, HOST possibly a bracketed IPv6 address.
    static func parseAddress(_ text: String) throws -> (user: String?, host: String, port: Int?) {
        let a = try RemoteSpec.address(text)
        return (a.user, a.host, a.port)
    }

    /// Where the other machine reaches this node's sshd: --address (else this user at this host);
    /// a port it leaves out is the one `~/.ssh/config` gives that host (as sync pull would dial
    /// it), else the one this machine's sshd listens on, else 22.
    func inviteAddress(_ environment: [String: String], sshd: SSHDConfig) throws -> (user: String?, host: String, port: Int) {
        let given = try address.map(Self.parseAddress) ?? (currentUserName(), ProcessInfo.processInfo.hostName, nil)
        let home = environment["HOME"] ?? NSHomeDirectory()
        let port = given.port ?? SSHConfig.user(environment).resolve(given.host, home: home).port ?? sshd.port ?? 22
        return (given.user, given.host, port)
    }

    public func run() throws {
        try reporting("sync-keys") {
            let state = StateDirectory.fromEnvironment()
            let identity = try state.identity()
            switch action {
            case "id":
                emit(identity.id.rawValue)
                emit(identity.publicKeyLine)
                emit(identity.fingerprint)
            case "name":
                let names = NodeNames(state)
                emit(try folder.map { try names.setOwn($0) } ?? names.own())
            case "list":
                for k in try FolderAccess.keys(of: try state.folder(folder!)) { emit("\(k.id) \(k.line)") }
            case "invite":
                try invite(state, identity)
            default:
                let f = try state.folder(folder!)
                let changed: Bool, id: NodeID
                if action == "allow" {
                    let k = try resolveKey(key!, state: state)
                    guard k.id != identity.id else { throw SyncError.refused("\(key!): this node's own key") }
                    id = k.id
                    changed = try FolderAccess.allow(k, for: f)
                } else {
                    id = try resolveKey(key!, state: state).id
                    changed = try FolderAccess.deny(id, for: f)
                }
                try rewriteAuthorizedKeys(state)
                emit("\(changed ? (action == "allow" ? "allowed" : "denied") : "unchanged") \(id)")
            }
        }
    }
}

extension KeysCommand {
    private func invite(_ state: StateDirectory, _ identity: NodeIdentity) throws {
        let f = try state.folder(folder!)
        let environment = ProcessInfo.processInfo.environment
        let sshd = SSHDConfig.system(environment)
        let addr = try inviteAddress(environment, sshd: sshd)
        let hostKeyPath = hostKey ?? sshd.publicHostKey
        guard let data = FileManager.default.contents(atPath: hostKeyPath) else {
            throw SyncError.malformed("\(hostKeyPath): cannot read the sshd host key; name this node's public host key file with --host-key (sshd -T | grep hostkey lists them)")
        }
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, fields[0].hasPrefix("ssh-") || fields[0].hasPrefix("ecdsa-"),
              let blob = Data(base64Encoded: String(fields[1])) else {
            throw SyncError.malformed("\(hostKeyPath): not an OpenSSH public host key")
        }
        // What the folder holds now is recorded first (once every check passed): the other
        // machine's first pull brings it.
        if !f.config.paused, let recorded = try Committer(try FolderContext(f, state: state)).commit(), !recorded.changes.isEmpty {
            warn("sync-keys: folder \(f.id): recorded \(recorded.changeCount) change\(recorded.changeCount == 1 ? "" : "s") first (\(recorded.line))")
        }
        let lifetime = Units.duration(expires ?? "24h")!
        let (made, seed) = try Invites(state).create(folder: f.id, lifetime: lifetime)
        do { try rewriteAuthorizedKeys(state) } catch { Invites(state).remove(try made.id); throw error }
        let token = InviteToken(user: addr.user, host: addr.host, port: addr.port, hostKeyType: String(fields[0]),
                                hostKey: Array(blob), nodeKey: identity.rawPublicKey, folder: f.id, seed: seed,
                                expires: made.expires)
        emit(token.text)
        let until = Date(timeIntervalSince1970: Double(made.expires)).formatted(.iso8601)
        warn("sync-keys: invite to folder \(f.id) for \(token.remoteText), usable once until \(until); on the other machine: sync join TOKEN PATH")
    }
}

/// A key given on the command line: a public key line, a file holding one, or a node id already allowed somewhere.
func resolveKey(_ text: String, state: StateDirectory) throws -> PeerKey {
    if text.hasPrefix("ssh-") { return try PeerKey(line: text) }
    if let id = try? NodeID(text) {
        if let k = try FolderAccess.allKeys(state).first(where: { $0.id == id }) { return k }
        throw SyncError.malformed("\(text): no key known for this node id; give its public key line or file")
    }
    guard let data = FileManager.default.contents(atPath: text) else {
        throw SyncError.malformed("\(text): neither a public key line, a readable file, nor a node id")
    }
    let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
    do { return try PeerKey(line: line) } catch { throw SyncError.malformed("\(text): holds no ssh-ed25519 public key line") }
}
