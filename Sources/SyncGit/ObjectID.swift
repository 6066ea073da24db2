import CGit2

/// A git object id (SHA-1), held as 40 lower-case hex characters.
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    public let hex: String

    public init(hex: String) throws {
        guard hex.utf8.count == 40, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw GitError(operation: "parse object id", message: "\(hex): not a 40-digit hex object id", code: -1)
        }
        self.hex = hex
    }

    init(_ oid: git_oid) {
        var o = oid
        var buf = [CChar](repeating: 0, count: 40)
        git_oid_fmt(&buf, &o)
        hex = String(decoding: buf.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var oid: git_oid {
        var o = git_oid()
        _ = git_oid_fromstr(&o, hex)
        return o
    }

    /// The 20 bytes of the id.
    var raw: [UInt8] { withUnsafeBytes(of: oid.id) { Array($0) } }

    /// The first seven digits, as git abbreviates.
    public var short: String { String(hex.prefix(7)) }
    public var description: String { hex }
}
