/// Big-endian, length-prefixed encoding of the protocol's fields. No I/O.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// A writer whose buffer holds `capacity` bytes before it grows.
    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Writes the length of what follows the first 4 bytes into them (a frame's header).
    mutating func patchLength() {
        bytes.replaceSubrange(0..<4, with: Frame.header(bytes.count - 4))
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(v >> 24)); bytes.append(UInt8((v >> 16) & 0xff))
        bytes.append(UInt8((v >> 8) & 0xff)); bytes.append(UInt8(v & 0xff))
    }
    mutating func i64(_ v: Int64) {
        let u = UInt64(bitPattern: v)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((u >> UInt64(shift)) & 0xff)) }
    }
    mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    public mutating func data(_ d: some Collection<UInt8>) { u32(UInt32(d.count)); bytes += d }
    public mutating func string(_ s: String) { data(Array(s.utf8)) }
    mutating func optionalString(_ s: String?) {
        if let s { bool(true); string(s) } else { bool(false) }
    }
}

/// Reads what `WireWriter` wrote; every read checks the bounds and throws on a short or bad field.
struct WireReader {
    private let bytes: [UInt8]
    private var position: Int

    public init(_ bytes: [UInt8], from position: Int = 0) { self.bytes = bytes; self.position = position }

    var isAtEnd: Bool { position == bytes.count }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - position >= n else { throw ProtocolError.malformed("field runs past the frame") }
        defer { position += n }
        return bytes[position..<position + n]
    }

    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u32() throws -> UInt32 { try take(4).reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) }) }
    mutating func bool() throws -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw ProtocolError.malformed("bad boolean")
        }
    }
    public mutating func data() throws -> [UInt8] { Array(try take(Int(try u32()))) }
    public mutating func string() throws -> String {
        let d = try data()
        guard let s = String(validating: d, as: UTF8.self) else { throw ProtocolError.malformed("string is not UTF-8") }
        return s
    }
    mutating func optionalString() throws -> String? { try bool() ? try string() : nil }

    /// A string of at most `max` UTF-8 bytes; `what` names the field in the error.
    public mutating func string(max: Int, _ what: String) throws -> String {
        let n = Int(try u32())
        guard n <= max else { throw ProtocolError.malformed("\(what) longer than \(max) bytes") }
        guard let s = String(validating: try take(n), as: UTF8.self) else { throw ProtocolError.malformed("\(what) is not UTF-8") }
        return s
    }
    mutating func optionalString(max: Int, _ what: String) throws -> String? {
        try bool() ? try string(max: max, what) : nil
    }
    /// A signed 64-bit number that must lie in `range`; `what` names the field in the error.
    mutating func i64(in range: ClosedRange<Int64>, _ what: String) throws -> Int64 {
        let v = try i64()
        guard range.contains(v) else { throw ProtocolError.malformed("\(what) \(v) out of range") }
        return v
    }
    public mutating func end() throws {
        guard isAtEnd else { throw ProtocolError.malformed("trailing bytes in frame") }
    }
}

/// A frame or message that breaks the protocol: the link cannot go on.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case frameTooLarge(UInt32)
    case unexpected(String)
    case version(UInt16)
    case closed
    /// The peer went silent in the middle of a frame or an answer for this many seconds.
    case timedOut(Int)

    public var description: String {
        switch self {
        case .malformed(let m): return "malformed message: \(m)"
        case .frameTooLarge(let n): return "frame of \(n) bytes is larger than the limit of \(Frame.maxLength)"
        case .unexpected(let m): return "unexpected message: \(m)"
        case .version(let v): return "peer speaks protocol version \(v); this node speaks \(Message.protocolVersion)"
        case .closed: return "link closed"
        case .timedOut(let s): return "the peer sent nothing for \(s) s in the middle of a message or an answer"
        }
    }
}

/// What a peer may send, checked as a message is decoded, so that no later arithmetic on a peer's
/// number can overflow and no field can hold more memory than its purpose needs.
public enum Limits {
    /// Sequence numbers (rows, notices, offers, requests): far below `Int64.max`, exact in JSON.
    static let maxSequence: Int64 = 1 << 53
    /// A file's size and a content offset (1 PiB).
    static let maxFileSize: Int64 = 1 << 50
    public static let sequences: ClosedRange<Int64> = 0...maxSequence
    public static let sizes: ClosedRange<Int64> = 0...maxFileSize
    /// A path inside a folder, and a link target.
    static let maxPathBytes = 4096
    /// A version vector in its storage form (about 200 nodes).
    static let maxVersionBytes = 16 << 10
    /// Folder ids, epochs, kinds, content hashes.
    static let maxNameBytes = 128
    /// The name a node gives itself in the handshake (shown only; NodeNames cleans it further).
    static let maxNodeNameBytes = 256
    /// The text of an error answer.
    public static let maxMessageBytes = 4096
    /// What one index answer may hold in all, its rows' fields added up (1,000 rows of 16 KiB).
    public static let maxBatchBytes = 16 << 20
}

/// A frame on the wire: a 4-byte big-endian length, then that many bytes of message.
public enum Frame {
    /// The largest message a side accepts; content moves in chunks well below it.
    static let maxLength: UInt32 = 4 << 20
    /// The size of the content chunks a side sends.
    public static let chunkSize = 256 << 10

    /// The 4-byte header of a payload.
    public static func header(_ length: Int) -> [UInt8] {
        let v = UInt32(length)
        return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    /// The payload length a header announces; throws when it exceeds `maxLength`.
    public static func length(ofHeader h: [UInt8]) throws -> Int {
        let v = h.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard v <= maxLength else { throw ProtocolError.frameTooLarge(v) }
        return Int(v)
    }
}
