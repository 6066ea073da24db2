import Crypto
import Foundation

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
    public func digest() -> [UInt8] { Array(sha.finalize()) }

    /// Bytes as lowercase hex digits (an id, a pack's name).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A git blob id computed on a thread of its own while the caller goes on (writing the file): a
/// `Sideline` that hashes. `alongside`, when given, sees every piece on the same thread right after
/// it is hashed (the bytes, zeros included): work that would otherwise hold up the caller (a
/// history copy of what comes, a chunk manifest) is done beside it.
public final class ThreadedBlobHasher {
    /// The hash, written by the thread until `Sideline.finish` returns, then read by the caller.
    private final class State: @unchecked Sendable {
        var hasher: BlobHasher
        init(size: Int64) { hasher = BlobHasher(size: size) }
    }
    private let state: State
    private let sideline: Sideline
    private var finished: String?

    public init(size: Int64, limit: Int = 16 << 20, alongside: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil) {
        let state = State(size: size)
        self.state = state
        sideline = Sideline(name: "sync.hash", limit: limit) { bytes in
            state.hasher.update(bytes)
            alongside?(bytes)
        }
    }

    /// The next bytes, shared with the hashing thread (no copy).
    public func update(_ bytes: [UInt8]) { sideline.update(bytes) }

    /// The next bytes, copied for the hashing thread (or told as a count when all are zeros).
    public func update(_ bytes: UnsafeRawBufferPointer) { sideline.update(bytes) }

    /// The id of all the bytes handed over, once they are hashed (as `BlobHasher.finish`).
    public func finish() -> String {
        if let finished { return finished }
        sideline.finish()
        let result = state.hasher.finish()
        finished = result
        return result
    }
}
