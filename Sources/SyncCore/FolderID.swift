/// A folder's id: 16 lower-case base32 characters, the same on every node that shares it.
public struct FolderID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String

    /// Validates `string`; throws for anything that is not a folder id.
    public init(_ string: String) throws {
        guard string.utf8.count == 16, Base32.isValid(Substring(string)) else {
            throw SyncError.invalidFolderID(string)
        }
        rawValue = string
    }

    /// A new random folder id (80 bits).
    public static func random() -> FolderID {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<10).map { _ in UInt8.random(in: 0...255, using: &g) }
        return try! FolderID(Base32.encode(bytes))
    }

    public var description: String { rawValue }
    public static func < (a: FolderID, b: FolderID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
