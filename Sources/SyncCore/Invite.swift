import Crypto
import Foundation

/// An invitation to one folder. Its key is a one-time ed25519 key pair made for it: the public half
/// goes into this node's managed authorized_keys block with a forced command that can do one thing
/// only, let the holder of the private half ask once to be allowed for that folder; the private half
/// travels in the token and is never stored on this node.
public struct Invite: Sendable, Equatable, Codable {
    public let folder: String
    /// The invite key's public line.
    public let key: String
    /// Seconds since 1970 after which the invite is void.
    public let expires: Int64

    /// The invite's id: the node id its key would have.
    public var id: NodeID { get throws { try PeerKey(line: key).id } }
}

/// The invites this node has handed out and not yet seen used: `SYNC_DIR/invites/<id>`.
public struct Invites: Sendable {
    public let directory: String

    public init(_ state: StateDirectory) { directory = state.root + "/invites" }

    /// Makes an invite to `folder` valid for `lifetime` seconds; returns it and its private key seed.
    public func create(folder: FolderID, lifetime: Double, now: Date = Date()) throws -> (Invite, seed: [UInt8]) {
        let key = Curve25519.Signing.PrivateKey()
        let raw = Array(key.publicKey.rawRepresentation)
        let id = NodeIdentity.nodeID(ofRawKey: raw)
        let invite = Invite(folder: folder.rawValue,
                            key: NodeIdentity.publicKeyLine(ofRawKey: raw, comment: "sync-invite:" + id.short),
                            expires: Int64(now.timeIntervalSince1970 + lifetime))
        try FileSystem.makeDirectories(directory, mode: 0o700)
        let data = try JSONEncoder().encode(invite)
        try FileSystem.writeAtomically(Array(data), to: directory + "/" + id.rawValue, mode: 0o600)
        return (invite, Array(key.rawRepresentation))
    }

    /// The invites still valid; expired ones are removed on the way.
    public func active(now: Date = Date()) -> [Invite] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().compactMap { name in
            guard (try? NodeID(name)) != nil else { return nil } // a claimed invite being used
            let path = directory + "/" + name
            guard let invite = read(path), (try? invite.id.rawValue) == name else { return nil }
            if invite.expires < Int64(now.timeIntervalSince1970) { unlink(path); return nil }
            return invite
        }
    }

    /// Takes the invite `id` for use, so that no second joiner can: the one caller that wins gets it.
    /// Nil for an unknown, used or expired invite.
    public func claim(_ id: NodeID, now: Date = Date()) -> Invite? {
        let path = directory + "/" + id.rawValue
        let claimed = path + ".claimed-\(getpid())"
        guard rename(path, claimed) == 0 else { return nil }
        defer { unlink(claimed) }
        guard let invite = read(claimed), (try? invite.id) == id,
              invite.expires >= Int64(now.timeIntervalSince1970) else { return nil }
        return invite
    }

    /// Removes the invite `id`; false if there was none.
    @discardableResult
    public func remove(_ id: NodeID) -> Bool { unlink(directory + "/" + id.rawValue) == 0 }

    private func read(_ path: String) -> Invite? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Invite.self, from: data)
    }
}

/// What `sync keys invite` prints and `sync join` reads: where the inviting node is, the host key
/// its sshd shows, its node key, the folder, and the invite's private key. One line of text.
public struct InviteToken: Sendable, Equatable {
    public var user: String?
    public var host: String
    public var port: Int
    public var hostKeyType: String
    public var hostKey: [UInt8]
    /// The inviting node's raw ed25519 public key.
    public var nodeKey: [UInt8]
    public var folder: FolderID
    /// The invite key's 32-byte private seed.
    public var seed: [UInt8]
    public var expires: Int64

    static let prefix = "sync-invite-1:"

    public init(user: String?, host: String, port: Int, hostKeyType: String, hostKey: [UInt8], nodeKey: [UInt8],
                folder: FolderID, seed: [UInt8], expires: Int64) {
        self.user = user; self.host = host; self.port = port; self.hostKeyType = hostKeyType; self.hostKey = hostKey
        self.nodeKey = nodeKey; self.folder = folder; self.seed = seed; self.expires = expires
    }

    private struct Fields: Codable {
        var address: String
        var hostKey: String
        var node: String
        var folder: String
        var key: String
        var expires: Int64
    }

    /// Where to dial, as a remote of this folder: `ssh://[user@]host[:port]/FOLDER`.
    public var remote: RemoteSpec {
        get throws {
            try RemoteSpec("ssh://" + RemoteSpec.address(user: user, host: host, port: port) + "/" + folder.rawValue)
        }
    }

    /// The shortest remote naming the same place: `[user@]host:FOLDER` when the port is 22.
    public var remoteText: String {
        if port == 22 && !host.contains(":") { return (user.map { $0 + "@" } ?? "") + host + ":" + folder.rawValue }
        return (try? remote.description) ?? ""
    }

    public var text: String {
        let fields = Fields(address: RemoteSpec.address(user: user, host: host, port: port),
                            hostKey: hostKeyType + " " + Data(hostKey).base64EncodedString(),
                            node: Data(nodeKey).base64EncodedString(), folder: folder.rawValue,
                            key: Data(seed).base64EncodedString(), expires: expires)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = (try? encoder.encode(fields)) ?? Data()
        return Self.prefix + json.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Reads and checks a token; every field is validated before anything uses it.
    public init(text raw: String) throws {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        func bad(_ why: String) -> SyncError { .malformed("not an invite token (\(why)); copy the whole line sync keys invite printed") }
        guard text.hasPrefix(Self.prefix), text.count < 4096 else { throw bad("it does not start with \(Self.prefix)") }
        var b64 = String(text.dropFirst(Self.prefix.count)).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let json = Data(base64Encoded: b64), let f = try? JSONDecoder().decode(Fields.self, from: json) else {
            throw bad("it is damaged or cut short")
        }
        guard let address = try? RemoteSpec.address(f.address), let port = address.port, let folder = try? FolderID(f.folder) else {
            throw bad("bad address or folder")
        }
        let hk = f.hostKey.split(separator: " ")
        guard hk.count == 2, hk[0].allSatisfy({ $0.isLetter || $0.isNumber || "-@.".contains($0) }),
              let hostKey = Data(base64Encoded: String(hk[1])), !hostKey.isEmpty else { throw bad("bad host key") }
        guard let node = Data(base64Encoded: f.node), node.count == 32 else { throw bad("bad node key") }
        guard let seed = Data(base64Encoded: f.key), seed.count == 32 else { throw bad("bad invite key") }
        self.init(user: address.user, host: address.host, port: port, hostKeyType: String(hk[0]), hostKey: Array(hostKey),
                  nodeKey: Array(node), folder: folder, seed: Array(seed), expires: f.expires)
    }

    /// The inviting node's id.
    public var node: NodeID { NodeIdentity.nodeID(ofRawKey: nodeKey) }

    /// Writes the invite key as an OpenSSH private key file (mode 0600) and its public line beside it
    /// (`path.pub`), for the SSH login.
    public func writeKey(to path: String) throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        try FileSystem.writeAtomically(Array(NodeIdentity.privateKeyFile(key, comment: "sync-invite").utf8), to: path, mode: 0o600)
        let line = NodeIdentity.publicKeyLine(ofRawKey: Array(key.publicKey.rawRepresentation), comment: "sync-invite") + "\n"
        try FileSystem.writeAtomically(Array(line.utf8), to: path + ".pub", mode: 0o600)
    }
}
