import Crypto
import Foundation

/// This node's ed25519 key pair, stored in OpenSSH's formats so libssh2 and sshd read it as they are.
public struct NodeIdentity: Sendable {
    public let id: NodeID
    /// `ssh-ed25519 AAAA... comment`
    public let publicKeyLine: String
    public let privateKeyPath: String
    let publicKeyPath: String

    /// `SHA256:...` as `ssh-keygen -l` prints it.
    public let fingerprint: String

    static let keyType = "ssh-ed25519"

    /// Loads the identity in `directory`, or creates one there.
    static func loadOrCreate(in directory: String) throws -> NodeIdentity {
        let priv = directory + "/id_ed25519", pub = priv + ".pub"
        if !FileManager.default.fileExists(atPath: pub) {
            try FileSystem.makeDirectories(directory, mode: 0o700)
            let lock = try FileLock(path: directory + "/.lock")
            if !FileManager.default.fileExists(atPath: pub) {
                let key = Curve25519.Signing.PrivateKey()
                let blob = publicBlob(Array(key.publicKey.rawRepresentation))
                let comment = "sync@" + (ProcessInfo.processInfo.hostName)
                try FileSystem.writeAtomically(Array(privateKeyFile(key, comment: comment).utf8), to: priv, mode: 0o600)
                let line = "\(keyType) \(Data(blob).base64EncodedString()) \(comment)\n"
                try FileSystem.writeAtomically(Array(line.utf8), to: pub, mode: 0o644)
            }
            _ = lock
        }
        guard let text = try? String(contentsOfFile: pub, encoding: .utf8) else {
            throw SyncError.identity(path: pub, message: "cannot read the public key")
        }
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        let fields = line.split(separator: " ")
        guard fields.count >= 2, fields[0] == keyType, let blob = Data(base64Encoded: String(fields[1])) else {
            throw SyncError.identity(path: pub, message: "not an ssh-ed25519 public key")
        }
        return NodeIdentity(id: NodeID(publicKeyBlob: Array(blob)), publicKeyLine: line, privateKeyPath: priv,
                            publicKeyPath: pub, fingerprint: fingerprint(of: Array(blob)))
    }

    /// OpenSSH's fingerprint form of a public key blob.
    public static func fingerprint(of blob: [UInt8]) -> String {
        let b64 = Data(SHA256.hash(data: blob)).base64EncodedString()
        return "SHA256:" + b64.trimmingCharacters(in: CharacterSet(charactersIn: "="))
    }

    static func publicBlob(_ raw: [UInt8]) -> [UInt8] {
        var w = SSHWriter()
        w.string(Array(keyType.utf8))
        w.string(raw)
        return w.bytes
    }

    /// The unencrypted `openssh-key-v1` format that `ssh-keygen` writes.
    static func privateKeyFile(_ key: Curve25519.Signing.PrivateKey, comment: String) -> String {
        let pub = Array(key.publicKey.rawRepresentation)
        let seed = Array(key.rawRepresentation)
        var inner = SSHWriter()
        let check = UInt32.random(in: 0...UInt32.max)
        inner.uint32(check); inner.uint32(check)
        inner.string(Array(keyType.utf8))
        inner.string(pub)
        inner.string(seed + pub)
        inner.string(Array(comment.utf8))
        var pad: UInt8 = 1
        while inner.bytes.count % 8 != 0 { inner.bytes.append(pad); pad += 1 }
        var outer = SSHWriter()
        outer.bytes += Array("openssh-key-v1".utf8) + [0]
        outer.string(Array("none".utf8))
        outer.string(Array("none".utf8))
        outer.string([])
        outer.uint32(1)
        outer.string(publicBlob(pub))
        outer.string(inner.bytes)
        let b64 = Data(outer.bytes).base64EncodedString()
        var lines = ["-----BEGIN OPENSSH PRIVATE KEY-----"]
        var rest = Substring(b64)
        while !rest.isEmpty { lines.append(String(rest.prefix(70))); rest = rest.dropFirst(70) }
        lines.append("-----END OPENSSH PRIVATE KEY-----")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The SSH wire encoding of integers and strings (RFC 4251).
struct SSHWriter {
    var bytes: [UInt8] = []
    mutating func uint32(_ v: UInt32) {
        bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
    mutating func string(_ s: [UInt8]) { uint32(UInt32(s.count)); bytes += s }
}

extension NodeIdentity {
    /// The raw 32-byte ed25519 public key.
    public var rawPublicKey: [UInt8] { (try? PeerKey(line: publicKeyLine))?.rawKey ?? [] }

    /// Signs `bytes` with the node's private key (read from `privateKeyPath`).
    public func sign(_ bytes: [UInt8]) throws -> [UInt8] {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: try privateSeed())
        return Array(try key.signature(for: bytes))
    }

    /// Whether `signature` is `publicKey`'s signature of `bytes`.
    public static func verify(signature: [UInt8], of bytes: [UInt8], publicKey: [UInt8]) -> Bool {
        guard publicKey.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: bytes)
    }

    /// The node id of a raw ed25519 public key.
    public static func nodeID(ofRawKey key: [UInt8]) -> NodeID { NodeID(publicKeyBlob: publicBlob(key)) }

    /// The OpenSSH public key line of a raw ed25519 public key.
    public static func publicKeyLine(ofRawKey key: [UInt8], comment: String) -> String {
        "\(keyType) \(Data(publicBlob(key)).base64EncodedString()) \(comment)"
    }

    /// The 32-byte seed inside the unencrypted `openssh-key-v1` file this node wrote.
    private func privateSeed() throws -> [UInt8] {
        guard let text = try? String(contentsOfFile: privateKeyPath, encoding: .utf8) else {
            throw SyncError.identity(path: privateKeyPath, message: "cannot read the private key")
        }
        let b64 = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let data = Data(base64Encoded: b64) else {
            throw SyncError.identity(path: privateKeyPath, message: "not an OpenSSH private key")
        }
        var r = SSHReader(Array(data))
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard (try? r.take(magic.count)) == magic, (try? r.string()) == Array("none".utf8),
              (try? r.string()) == Array("none".utf8), (try? r.string()) != nil, (try? r.uint32()) == 1,
              (try? r.string()) != nil, let inner = try? r.string() else {
            throw SyncError.identity(path: privateKeyPath, message: "not an unencrypted OpenSSH ed25519 key")
        }
        var i = SSHReader(inner)
        guard let c1 = try? i.uint32(), let c2 = try? i.uint32(), c1 == c2, (try? i.string()) == Array(Self.keyType.utf8),
              (try? i.string())?.count == 32, let both = try? i.string(), both.count == 64 else {
            throw SyncError.identity(path: privateKeyPath, message: "not an unencrypted OpenSSH ed25519 key")
        }
        return Array(both.prefix(32))
    }
}

/// Reads the SSH wire encoding.
struct SSHReader {
    let bytes: [UInt8]
    var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, bytes.count - position >= n else { throw SyncError.malformed("short SSH field") }
        defer { position += n }
        return Array(bytes[position..<position + n])
    }
    mutating func uint32() throws -> UInt32 { try take(4).reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func string() throws -> [UInt8] { try take(Int(try uint32())) }
}
