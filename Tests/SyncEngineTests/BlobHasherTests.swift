import Testing
@testable import SyncCore
@testable import SyncGit

@Suite struct BlobHasherTests {
    @Test func streamedIdsEqualLibgit2s() {
        for size in [0, 1, 63, 64, 1000, 300_000] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var h = BlobHasher(size: Int64(size))
            var i = 0
            while i < size { h.update(Array(bytes[i..<min(i + 4096, size)])); i += 4096 }
            #expect(h.finish() == HistoryRepository.hash(bytes).hex)
        }
    }

    /// On a thread of its own, from arrays, from buffers it copies and from runs of zeros it is
    /// only told the length of, with a limit small enough that the caller waits: the same ids.
    /// Let go unfinished, it does not hang.
    @Test func aHashOnItsOwnThreadIsTheSame() {
        var rng = SystemRandomNumberGenerator()
        for size in [0, 1, 4096, 300_000, 3_000_001] {
            var bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if size > 100_000 { for i in 1..<10_001 { bytes[i] = 0 } } // the second piece (a buffer): all zeros
            for limit in [1, 64 << 10, 16 << 20] {
                let h = ThreadedBlobHasher(size: Int64(size), limit: limit)
                var i = 0, k = 0
                while i < size {
                    let n = min(size - i, [1, 10_000, 40_000, 333_333][k % 4])
                    if k % 2 == 0 { h.update(Array(bytes[i..<(i + n)])) } else { bytes[i..<(i + n)].withUnsafeBytes { h.update($0) } }
                    i += n; k += 1
                }
                #expect(h.finish() == HistoryRepository.hash(bytes).hex, "\(size) bytes, limit \(limit)")
                #expect(h.finish() == HistoryRepository.hash(bytes).hex)
            }
        }
        for _ in 0..<50 {
            let h = ThreadedBlobHasher(size: 1 << 30, limit: 1 << 20)
            h.update([UInt8](repeating: 1, count: 100_000))
        }
    }
}
