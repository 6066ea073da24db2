import Foundation
import SyncGit

/// A large file's content as content-defined chunks (`Chunker`), in order: each chunk's length and
/// its git blob id. A node keeps the manifest of every file above `history.max-blob` it holds
/// (made as the file is hashed at commit, or as it arrives); a peer pulling a new version of such
/// a file asks for its manifest, copies the chunks it holds already from its own version and
/// fetches only the others.
///
/// Encoded (on the wire and in the index) as: a format byte (1), the average's log2, the file size
/// (8 bytes), the chunk count (4), then per chunk its length (4) and its id (20); big-endian.
struct ChunkManifest: Equatable {
    struct Chunk: Equatable {
        let length: Int
        let id: [UInt8]
    }
    let shift: Int
    let size: Int64
    let chunks: [Chunk]

    static let format: UInt8 = 1
    static let headerSize = 14
    static let entrySize = 24
    /// The largest manifest a node makes or accepts: a file that would need more (above about a
    /// terabyte) goes by librsync delta, as every file did before manifests.
    static let maxBytes = 32 << 20

    /// Files above this size (a folder's `history.max-blob`) have manifests.
    static func applies(toSize size: Int64, maxBlob: Int64) -> Bool { size > maxBlob }

    var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + chunks.count * Self.entrySize)
        out.append(Self.format)
        out.append(UInt8(shift))
        for k in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(size) >> UInt64(k))) }
        for k in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt32(chunks.count) >> UInt32(k))) }
        for c in chunks {
            for k in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt32(c.length) >> UInt32(k))) }
            out += c.id
        }
        return out
    }

    init(shift: Int, size: Int64, chunks: [Chunk]) {
        self.shift = shift; self.size = size; self.chunks = chunks
    }

    /// Decodes a manifest (a peer's, or one read back from the index) of a file of `size` bytes;
    /// nil for anything that is not one: another size, an average out of range, a chunk count
    /// that does not fit the bytes or the size, a chunk longer than the chunker makes, lengths that
    /// do not add up to the size.
    init?(decoding bytes: [UInt8], size expected: Int64) {
        guard bytes.count >= Self.headerSize, bytes.count <= Self.maxBytes, bytes[0] == Self.format else { return nil }
        let shift = Int(bytes[1])
        guard Chunker.shifts.contains(shift) else { return nil }
        var size: UInt64 = 0
        for i in 2..<10 { size = size << 8 | UInt64(bytes[i]) }
        var count = 0
        for i in 10..<14 { count = count << 8 | Int(bytes[i]) }
        guard size == UInt64(bitPattern: expected), expected > 0,
              bytes.count == Self.headerSize + count * Self.entrySize else { return nil }
        let maximum = 4 << shift
        var chunks: [Chunk] = []
        chunks.reserveCapacity(count)
        var total: Int64 = 0
        var at = Self.headerSize
        for _ in 0..<count {
            var length = 0
            for i in at..<(at + 4) { length = length << 8 | Int(bytes[i]) }
            guard length > 0, length <= maximum else { return nil }
            total += Int64(length)
            guard total <= expected else { return nil }
            chunks.append(Chunk(length: length, id: Array(bytes[(at + 4)..<(at + 24)])))
            at += Self.entrySize
        }
        guard total == expected else { return nil }
        self.init(shift: shift, size: expected, chunks: chunks)
    }
}

/// Makes the manifest of content as it streams by (the chunk ids need each chunk whole: the
/// part of a chunk that spans two pieces is kept, at most the chunker's maximum).
final class ManifestBuilder: @unchecked Sendable {
    private var chunker: Chunker
    private let size: Int64
    private var pending: [UInt8] = []
    private var chunks: [ChunkManifest.Chunk] = []
    private var seen: Int64 = 0
    private var overflow = false

    /// For content of `size` bytes.
    init(size: Int64) {
        self.size = size
        chunker = Chunker(shift: Chunker.shift(forSize: size))
    }

    /// `update`, as a hashing thread's `alongside` (used by that thread only until `finish`).
    var feed: @Sendable (UnsafeRawBufferPointer) -> Void { { self.update($0) } }

    /// The next bytes, in order from the first.
    func update(_ bytes: UnsafeRawBufferPointer) {
        guard !overflow, !bytes.isEmpty else { return }
        seen += Int64(bytes.count)
        var start = 0
        for cut in chunker.cuts(in: bytes) {
            let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<cut])
            if pending.isEmpty {
                add(piece)
            } else {
                pending.append(contentsOf: piece)
                pending.withUnsafeBytes { add($0) }
                pending.removeAll(keepingCapacity: true)
            }
            start = cut
        }
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
        if chunks.count * ChunkManifest.entrySize > ChunkManifest.maxBytes { overflow = true; chunks = []; pending = [] }
    }

    private func add(_ chunk: UnsafeRawBufferPointer) {
        var hasher = BlobHasher(size: Int64(chunk.count))
        hasher.update(chunk)
        chunks.append(ChunkManifest.Chunk(length: chunk.count, id: hasher.digest()))
    }

    /// The manifest of everything given; nil if it was not the announced size, or too many chunks.
    func finish() -> ChunkManifest? {
        if !pending.isEmpty { pending.withUnsafeBytes { add($0) }; pending = [] }
        guard !overflow, seen == size, size > 0,
              chunks.count * ChunkManifest.entrySize + ChunkManifest.headerSize <= ChunkManifest.maxBytes else { return nil }
        return ChunkManifest(shift: chunker.shift, size: size, chunks: chunks)
    }
}
