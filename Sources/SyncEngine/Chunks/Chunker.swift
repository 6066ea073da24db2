/// Content-defined chunk boundaries (FastCDC's gear hash with normalized chunking): where a chunk
/// ends depends only on the bytes just before it, so an insertion or a deletion moves the
/// boundaries near it and no others. Fed a stream a piece at a time; the same bytes give the same
/// boundaries however they are cut into pieces.
struct Chunker {
    /// log2 of the average chunk size.
    let shift: Int
    /// No chunk is shorter (but a file's last one), none longer.
    let minimum: Int
    let maximum: Int
    private let normal: Int
    /// Bits of the gear hash that must be zero for a cut, before and after the normal size:
    /// harder to meet before it, easier after it, so chunk sizes bunch around the average.
    private let strict: UInt64
    private let loose: UInt64
    /// The hash so far, and the length of the chunk so far.
    private var hash: UInt64 = 0
    private var length = 0

    /// The smallest and largest average a manifest may use (16 KiB to 1 MiB).
    static let shifts = 14...20

    /// The longest chunk for an average of 2^`shift`: twice the average (content as random as
    /// compressed media is cut well before; a run of zeros is cut here, and an edit in the middle
    /// of a hole then costs at most this much).
    static func maximum(shift: Int) -> Int { 2 << shift }

    init(shift: Int) {
        precondition(Self.shifts.contains(shift))
        self.shift = shift
        normal = 1 << shift
        minimum = normal / 4
        maximum = Self.maximum(shift: shift)
        // The highest bits: those that depend on the 64 bytes before the cut, not the last few.
        strict = ~(UInt64.max >> UInt64(shift + 2))
        loose = ~(UInt64.max >> UInt64(shift - 2))
    }

    /// The average size for a file of `size` bytes: about four times its square root (as rsync
    /// sizes its blocks), a power of two within `shifts`: 16 KiB up to 16 MiB files, 128 KiB
    /// for 1 GiB, 256 KiB for 5 GiB.
    static func shift(forSize size: Int64) -> Int {
        let bits = 64 - max(size, 1).leadingZeroBitCount - 1
        return min(max(bits / 2 + 2, shifts.lowerBound), shifts.upperBound)
    }

    /// Where chunks end in `bytes`, the next piece of the stream: offsets in the piece, each just
    /// past a chunk's last byte. What follows the last cut continues into the next piece.
    mutating func cuts(in bytes: UnsafeRawBufferPointer) -> [Int] {
        var out: [Int] = []
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return out }
        let count = bytes.count
        var i = 0
        while i < count {
            // The first `minimum` bytes of a chunk cannot end it: skipped, not hashed (the hash
            // depends on the last 64 bytes only).
            if length < minimum {
                let skip = min(minimum - length, count - i)
                length += skip
                i += skip
                if length == minimum { hash = 0 }
                continue
            }
            var h = hash
            let start = i
            var cut = false
            Self.gear.withUnsafeBufferPointer { gear in
                // Before the normal size the strict mask, then the loose one up to the maximum.
                let toNormal = min(count, i + max(0, normal - length))
                while i < toNormal {
                    h = (h << 1) &+ gear[Int(base[i])]
                    i += 1
                    if h & strict == 0 { cut = true; return }
                }
                let toMaximum = min(count, start + (maximum - length))
                while i < toMaximum {
                    h = (h << 1) &+ gear[Int(base[i])]
                    i += 1
                    if h & loose == 0 { cut = true; return }
                }
                if length + (i - start) == maximum { cut = true }
            }
            if cut {
                out.append(i)
                hash = 0
                length = 0
            } else {
                hash = h
                length += i - start
            }
        }
        return out
    }

    /// 256 fixed pseudo-random words (SplitMix64 from a fixed seed): every node derives the same.
    static let gear: [UInt64] = {
        var state: UInt64 = 0x7379_6E63_2D63_6463 // "sync-cdc"
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }()
}
