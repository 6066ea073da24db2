import Foundation

/// Work done on a thread of its own beside the caller, over bytes handed over in order (hashing
/// what is being written, making a chunk manifest of what is being read): an array without a copy,
/// other bytes copied (or told as a count when all are zeros); at most `limit` bytes wait at a time
/// (the caller waits beyond). `finish` waits for every piece to be done; let go unfinished, the
/// thread ends after the piece at hand.
public final class Sideline {
    /// What the two threads share.
    private final class Shared: @unchecked Sendable {
        /// The caller's array, a copy in a buffer of `free`'s (given back once done), or zeros.
        enum Piece { case bytes([UInt8]), copied([UInt8]), zeros(Int) }
        let condition = NSCondition()
        var pieces: [Piece] = []
        /// Bytes handed over and not done yet.
        var waiting = 0
        var ended = false
        var done = false
        /// Buffers of copies done with, for the next copies: fresh pages for every piece cost
        /// more than the copy (the kernel zeroes them; on a VM the host may back them first).
        var free: [[UInt8]] = []
    }
    private let shared = Shared()
    private let limit: Int

    public init(name: String, limit: Int = 16 << 20, _ work: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.limit = limit
        let shared = self.shared
        let thread = Thread {
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            shared.condition.lock()
            while true {
                while shared.pieces.isEmpty && !shared.ended { shared.condition.wait() }
                if shared.pieces.isEmpty { break }
                let piece = shared.pieces.removeFirst()
                shared.condition.unlock()
                let n: Int
                var used: [UInt8]?
                switch piece {
                case .bytes(let b):
                    b.withUnsafeBytes(work)
                    n = b.count
                case .copied(let b):
                    b.withUnsafeBytes(work)
                    n = b.count
                    used = b
                case .zeros(let count):
                    var left = count
                    while left > 0 {
                        let k = min(left, zeros.count)
                        zeros.withUnsafeBytes { work(UnsafeRawBufferPointer(rebasing: $0[..<k])) }
                        left -= k
                    }
                    n = count
                }
                shared.condition.lock()
                if let b = used, shared.free.count < 16 { shared.free.append(b) }
                used = nil
                shared.waiting -= n
                shared.condition.broadcast()
            }
            shared.done = true
            shared.condition.broadcast()
            shared.condition.unlock()
        }
        thread.name = name
        thread.start()
    }

    deinit {
        shared.condition.lock()
        shared.ended = true
        shared.pieces = []
        shared.condition.broadcast()
        shared.condition.unlock()
    }

    /// The next bytes, shared with the thread (no copy).
    public func update(_ bytes: [UInt8]) { hand(.bytes(bytes), bytes.count) }

    /// The next bytes, copied for the thread (or told as a count when all are zeros).
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        if base.load(as: UInt8.self) == 0 && memcmp(base, base + 1, bytes.count - 1) == 0 {
            hand(.zeros(bytes.count), bytes.count)
        } else {
            shared.condition.lock()
            var copy = shared.free.popLast() ?? []
            shared.condition.unlock()
            copy.removeAll(keepingCapacity: true)
            copy.append(contentsOf: bytes)
            hand(.copied(copy), bytes.count)
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

    /// Waits until every piece handed over is done; nothing more may be handed over after.
    public func finish() {
        shared.condition.lock()
        shared.ended = true
        shared.condition.broadcast()
        while !shared.done { shared.condition.wait() }
        shared.condition.unlock()
    }
}
