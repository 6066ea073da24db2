import Crypto

/// A node's id: base32 of the SHA-256 of its ed25519 public key blob (52 characters).
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String

    /// Validates `string`; throws for anything that is not a node id.
    public init(_ string: String) throws {
        guard string.utf8.count == Self.length, Base32.isValid(Substring(string)) else {
            throw SyncError.malformed("\(string): not a node id")
        }
        rawValue = string
    }

    /// Characters in a node id.
    static let length = 52

    /// The node id of an SSH public key blob (as in `ssh-ed25519 <base64 blob>`).
    public init(publicKeyBlob: [UInt8]) {
        rawValue = Base32.encode(SHA256.hash(data: publicKeyBlob))
    }

    /// The first eight characters: enough to tell a user's few nodes apart in names.
    public var short: String { String(rawValue.prefix(8)) }
    public var description: String { rawValue }
    public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
