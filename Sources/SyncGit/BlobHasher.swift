import Crypto

/// A git blob id computed as the content streams by: SHA-1 of `blob <size>\0` and the bytes.
/// It equals libgit2's id for the same content.
public struct BlobHasher {
    private var sha = Insecure.SHA1()

    public init(size: Int64) { sha.update(data: Array("blob \(size)\0".utf8)) }

    public mutating func update(_ bytes: [UInt8]) { sha.update(data: bytes) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { sha.update(bufferPointer: bytes) }

    /// The id as 40 lowercase hex digits.
    public func finish() -> String { Self.hex(digest()) }

    /// The id as its 20 bytes.
    func digest() -> [UInt8] { Array(sha.finalize()) }

    /// Bytes as lowercase hex digits (an id, a pack's name).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
