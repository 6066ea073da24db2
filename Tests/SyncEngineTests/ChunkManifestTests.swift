import Foundation
import Testing
import SyncTestSupport
@testable import SyncGit
@testable import SyncEngine

/// Content-defined chunks: boundaries that follow the content, and manifests read back only whole.
@Suite struct ChunkManifestTests {
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// The manifest of `bytes`, fed in pieces of the sizes `pieces` gives in turn.
    static func manifest(_ bytes: [UInt8], pieces: [Int] = [1 << 20]) -> ChunkManifest {
        let builder = ManifestBuilder(size: Int64(bytes.count))
        var at = 0, k = 0
        bytes.withUnsafeBytes { raw in
            while at < raw.count {
                let n = min(pieces[k % pieces.count], raw.count - at)
                builder.update(UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)]))
                at += n
                k += 1
            }
        }
        return builder.finish()!
    }

    @Test func theSameBytesGiveTheSameChunksHoweverTheyAreCut() {
        let bytes = Self.random(3 << 20, seed: 1)
        let whole = Self.manifest(bytes)
        var rng = SplitMix(2)
        let sizes = (0..<50).map { _ in Int.random(in: 1...70_000, using: &rng) }
        #expect(Self.manifest(bytes, pieces: sizes) == whole)
        #expect(Self.manifest(bytes, pieces: [1, 4095, 1 << 16]) == whole)
        // Each chunk within the bounds (the last may be short), adding up to the content, each id
        // the git blob id of its bytes.
        let chunker = Chunker(shift: whole.shift)
        var at = 0
        for (i, c) in whole.chunks.enumerated() {
            #expect(c.length <= chunker.maximum)
            if i < whole.chunks.count - 1 { #expect(c.length >= chunker.minimum) }
            #expect(BlobHasher.hex(c.id) == HistoryRepository.hash(Array(bytes[at..<(at + c.length)])).hex)
            at += c.length
        }
        #expect(at == bytes.count)
        // Sizes bunch around the average: 3 MiB at 16 KiB is about 190 chunks.
        #expect((100...300).contains(whole.chunks.count), "\(whole.chunks.count) chunks")
    }

    @Test func anInsertionOrAnEditChangesOnlyTheChunksAroundIt() {
        let bytes = Self.random(4 << 20, seed: 3)
        let before = Set(Self.manifest(bytes).chunks.map(\.id))
        for changed in [Self.random(1000, seed: 4) + bytes,            // inserted at the start
                        Array(bytes[..<(2 << 20)]) + [7] + Array(bytes[(2 << 20)...]), // one byte in the middle
                        { var b = bytes; b[3 << 20] ^= 0xff; return b }()] {         // one byte changed
            let after = Self.manifest(changed).chunks
            let new = after.filter { !before.contains($0.id) }
            #expect(new.count <= 3, "\(new.count) of \(after.count) chunks new")
        }
    }

    @Test func zerosAreChunkedAtTheMaximum() {
        let m = Self.manifest([UInt8](repeating: 0, count: 1 << 20))
        #expect(m.chunks.dropLast().allSatisfy { $0.length == Chunker(shift: m.shift).maximum })
        #expect(Set(m.chunks.dropLast().map(\.id)).count == 1)
    }

    @Test func theAverageGrowsWithTheFile() {
        #expect(Chunker.shift(forSize: 20 << 20) == 14)
        #expect(Chunker.shift(forSize: 64 << 20) == 15)
        #expect(Chunker.shift(forSize: 1 << 30) == 17)
        #expect(Chunker.shift(forSize: 5 << 30) == 18)
        #expect(Chunker.shift(forSize: Int64.max) == 20)
        #expect(Chunker.shift(forSize: 0) == 14)
    }

    @Test func aManifestIsReadBackOnlyWhole() {
        let bytes = Self.random(200_000, seed: 5)
        let m = Self.manifest(bytes)
        let encoded = m.encoded
        #expect(ChunkManifest(decoding: encoded, size: Int64(bytes.count)) == m)
        // As sent: the first 8 bytes of each id, 12 bytes a chunk.
        let sent = m.encoded(.sent)
        #expect(sent.count == ChunkManifest.headerSize + 12 * m.chunks.count)
        #expect(ChunkManifest(decoding: sent, size: Int64(bytes.count))
                == ChunkManifest(shift: m.shift, size: m.size, chunks: m.chunks.map { .init(length: $0.length, id: Array($0.id.prefix(8))) }, form: .sent))
        #expect(ChunkManifest(decoding: Array(sent.dropLast()), size: Int64(bytes.count)) == nil)
        // Another size, cut short, one byte more, another format or average, a zero or an
        // overlong chunk, lengths that do not add up: none is a manifest.
        #expect(ChunkManifest(decoding: encoded, size: Int64(bytes.count) + 1) == nil)
        #expect(ChunkManifest(decoding: Array(encoded.dropLast()), size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: encoded + [0], size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: [], size: 0) == nil)
        func edited(_ at: Int, _ value: UInt8) -> [UInt8] { var e = encoded; e[at] = value; return e }
        #expect(ChunkManifest(decoding: edited(0, 2), size: Int64(bytes.count)) == nil) // sent form, kept length
        #expect(ChunkManifest(decoding: edited(0, 3), size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: edited(0, 0), size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: edited(1, 13), size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: edited(1, 21), size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: edited(1, 255), size: Int64(bytes.count)) == nil)
        // The first chunk's length: zero, past the maximum, one more (the sum is then wrong).
        let first = ChunkManifest.headerSize
        var zero = encoded
        for i in first..<(first + 4) { zero[i] = 0 }
        #expect(ChunkManifest(decoding: zero, size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: edited(first, 0xff), size: Int64(bytes.count)) == nil)
        #expect(ChunkManifest(decoding: edited(first + 3, encoded[first + 3] &+ 1), size: Int64(bytes.count)) == nil)
        // A count that claims more chunks than the bytes hold, or the most a count can say.
        #expect(ChunkManifest(decoding: edited(13, encoded[13] &+ 1), size: Int64(bytes.count)) == nil)
        var huge = encoded
        for i in 10..<14 { huge[i] = 0xff }
        #expect(ChunkManifest(decoding: huge, size: Int64(bytes.count)) == nil)
        // Every size field at its extremes.
        var big = encoded
        for i in 2..<10 { big[i] = 0xff }
        #expect(ChunkManifest(decoding: big, size: -1) == nil)
        #expect(ChunkManifest(decoding: big, size: Int64.max) == nil)
    }

    @Test func contentOfAnotherSizeHasNoManifest() {
        let builder = ManifestBuilder(size: 10)
        [UInt8](repeating: 1, count: 9).withUnsafeBytes { builder.update($0) }
        #expect(builder.finish() == nil)
        let over = ManifestBuilder(size: 10)
        [UInt8](repeating: 1, count: 11).withUnsafeBytes { over.update($0) }
        #expect(over.finish() == nil)
    }
}
