import Foundation

/// A peer's ed25519 public key, validated from an OpenSSH public key line.
public struct PeerKey: Sendable, Equatable {
    public let rawKey: [UInt8]
    public let id: NodeID
    /// `ssh-ed25519 <base64> <comment>` as this node writes it.
    public let line: String

    public init(line text: String) throws {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, fields[0] == "ssh-ed25519", let blob = Data(base64Encoded: String(fields[1])),
              blob.count == 51, Array(blob.prefix(19)) == NodeIdentity.publicBlob([]).prefix(15) + [0, 0, 0, 32] else {
            throw SyncError.malformed("\(text.prefix(60)): not an ssh-ed25519 public key line")
        }
        self.init(rawKey: Array(blob.suffix(32)))
    }

    /// The key whose raw 32 bytes a handshake proved.
    public init(rawKey: [UInt8]) {
        self.rawKey = rawKey
        id = NodeIdentity.nodeID(ofRawKey: rawKey)
        line = NodeIdentity.publicKeyLine(ofRawKey: rawKey, comment: "sync:" + id.short)
    }
}
