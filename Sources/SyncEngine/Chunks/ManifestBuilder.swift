import Foundation
import SyncCore
import SyncGit

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
        if chunks.count * ChunkManifest.Form.kept.entrySize > ChunkManifest.maxBytes { overflow = true; chunks = []; pending = [] }
    }

    /// The ids of chunks of zeros, by length (a sparse file's holes are cut into many alike).
    private var zeroIDs: [Int: [UInt8]] = [:]

    private func add(_ chunk: UnsafeRawBufferPointer) {
        let zeros = POSIX.allZeros(chunk)
        if zeros, let id = zeroIDs[chunk.count] {
            chunks.append(ChunkManifest.Chunk(length: chunk.count, id: id))
            return
        }
        var hasher = BlobHasher(size: Int64(chunk.count))
        hasher.update(chunk)
        let id = hasher.digest()
        if zeros { zeroIDs[chunk.count] = id }
        chunks.append(ChunkManifest.Chunk(length: chunk.count, id: id))
    }

    /// The manifest of everything given; nil if it was not the announced size, or too many chunks.
    func finish() -> ChunkManifest? {
        if !pending.isEmpty { pending.withUnsafeBytes { add($0) }; pending = [] }
        guard !overflow, seen == size, size > 0,
              chunks.count * ChunkManifest.Form.kept.entrySize + ChunkManifest.headerSize <= ChunkManifest.maxBytes else { return nil }
        return ChunkManifest(shift: chunker.shift, size: size, chunks: chunks)
    }
}
