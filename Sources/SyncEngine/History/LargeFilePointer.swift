import Foundation
import SyncCore
import SyncGit

/// The small blob kept in history for a file above `history.max-blob`: its id and size.
public struct LargeFilePointer: Sendable, Equatable {
    public let id: String
    public let size: Int64
    static let header = "sync-large-file v1"

    public var bytes: [UInt8] { Array("\(Self.header)\nid \(id)\nsize \(size)\n".utf8) }

    /// Parses a blob's bytes; nil when the blob is not a pointer.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count < 200, let s = String(validating: bytes, as: UTF8.self) else { return nil }
        let lines = s.split(separator: "\n")
        guard lines.count == 3, lines[0] == Self.header, lines[1].hasPrefix("id "), lines[2].hasPrefix("size "),
              let size = Int64(lines[2].dropFirst(5)) else { return nil }
        id = String(lines[1].dropFirst(3))
        self.size = size
    }

    public init(id: String, size: Int64) { self.id = id; self.size = size }
}
