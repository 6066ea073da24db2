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
}
