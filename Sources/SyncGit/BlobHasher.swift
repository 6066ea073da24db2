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
    func digest() -> [UInt8] { Array(sha.finalize()) }

    /// Bytes as lowercase hex digits (an id, a pack's name).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A git blob id computed on a thread of its own while the caller goes on (writing the file):
/// pieces are handed over in order, an array without a copy; at most `limit` bytes wait at a
/// time (the caller waits beyond). Let go unfinished, its thread ends.
public final class ThreadedBlobHasher {
    /// What the two threads share.
    private final class Shared: @unchecked Sendable {
        enum Piece { case bytes([UInt8]), zeros(Int) }
        let condition = NSCondition()
        var pieces: [Piece] = []
        /// Bytes handed over and not hashed yet.
        var waiting = 0
        var ended = false
        var result: String?
    }
    private let shared = Shared()
    private let limit: Int
    private var finished: String?

    public init(size: Int64, limit: Int = 16 << 20) {
        self.limit = limit
        let shared = self.shared
        let thread = Thread {
            var hasher = BlobHasher(size: size)
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            shared.condition.lock()
            while true {
                while shared.pieces.isEmpty && !shared.ended { shared.condition.wait() }
                if shared.pieces.isEmpty { break }
                let piece = shared.pieces.removeFirst()
                shared.condition.unlock()
                let n: Int
                switch piece {
                case .bytes(let b):
                    hasher.update(b)
                    n = b.count
                case .zeros(let count):
                    var left = count
                    while left > 0 {
                        let k = min(left, zeros.count)
                        zeros.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<k])) }
                        left -= k
                    }
                    n = count
                }
                shared.condition.lock()
                shared.waiting -= n
                shared.condition.broadcast()
            }
            shared.result = hasher.finish()
            shared.condition.broadcast()
            shared.condition.unlock()
        }
        thread.name = "sync.hash"
        thread.start()
    }

    deinit {
        shared.condition.lock()
        shared.ended = true
        shared.pieces = []
        shared.condition.broadcast()
        shared.condition.unlock()
    }

    /// The next bytes, shared with the hashing thread (no copy).
    public func update(_ bytes: [UInt8]) { hand(.bytes(bytes), bytes.count) }

    /// The next bytes, copied for the hashing thread (or told as a count when all are zeros).
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        if base.load(as: UInt8.self) == 0 && memcmp(base, base + 1, bytes.count - 1) == 0 {
            hand(.zeros(bytes.count), bytes.count)
        } else {
            hand(.bytes(Array(bytes)), bytes.count)
        }
    }

    private func hand(_ piece: Shared.Piece, _ n: Int) {
        shared.condition.lock()
        while shared.waiting > 0 && shared.waiting + n > limit { shared.condition.wait() }
        shared.pieces.append(piece)
        shared.waiting += n
        shared.condition.broadcast()
        shared.condition.unlock()
    }

    /// The id of all the bytes handed over, once they are hashed (as `BlobHasher.finish`).
    public func finish() -> String {
        if let finished { return finished }
        shared.condition.lock()
        shared.ended = true
        shared.condition.broadcast()
        while shared.result == nil { shared.condition.wait() }
        let result = shared.result!
        shared.condition.unlock()
        finished = result
        return result
    }
}
