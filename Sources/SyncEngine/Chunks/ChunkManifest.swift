import Foundation

/// A large file's content as content-defined chunks (`Chunker`), in order: each chunk's length and
/// its git blob id. A node keeps the manifest of every file above `history.max-blob` it holds
/// (made as the file is hashed at commit, or as it arrives); a peer pulling a new version of such
/// a file asks for its manifest, copies the chunks it holds already from its own version and
/// fetches only the others.
///
/// Encoded as: a form byte, the average's log2, the file size (8 bytes), the chunk count (4), then
/// per chunk its length (4) and its id, big-endian. Kept (in the index) with whole ids (20 bytes);
/// sent with the first 8 bytes of each, which is enough to find a chunk among those the other
/// side holds (a wrong match only makes a file that fails its id check) and to check one fetched.
struct ChunkManifest: Equatable {
    struct Chunk: Equatable {
        let length: Int
        /// The chunk's git blob id, or its first `Form.sent.idSize` bytes in a manifest as sent.
        let id: [UInt8]
    }
    enum Form: UInt8 {
        case kept = 1, sent = 2
        var idSize: Int { self == .kept ? 20 : 8 }
        var entrySize: Int { 4 + idSize }
    }
    let shift: Int
    let size: Int64
    let chunks: [Chunk]
    let form: Form

    static let headerSize = 14
    /// The largest manifest a node makes or accepts (about 350,000 chunks kept, 700,000 sent, a
    /// few tens of MB in memory): a file that would need more (above some 350 GiB) goes by librsync
    /// delta, as every file did before manifests.
    static let maxBytes = 8 << 20

    /// Files above this size (a folder's `history.max-blob`) have manifests.
    static func applies(toSize size: Int64, maxBlob: Int64) -> Bool { size > maxBlob }

    /// The manifest as kept (whole ids).
    var encoded: [UInt8] { encoded(.kept) }

    /// The manifest in `form` (a kept one can be sent; a sent one cannot be kept).
    func encoded(_ form: Form) -> [UInt8] {
        precondition(form.idSize <= self.form.idSize)
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + chunks.count * form.entrySize)
        out.append(form.rawValue)
        out.append(UInt8(shift))
        for k in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(size) >> UInt64(k))) }
        for k in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt32(chunks.count) >> UInt32(k))) }
        for c in chunks {
            for k in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt32(c.length) >> UInt32(k))) }
            out += c.id.prefix(form.idSize)
        }
        return out
    }

    init(shift: Int, size: Int64, chunks: [Chunk], form: Form = .kept) {
        self.shift = shift; self.size = size; self.chunks = chunks; self.form = form
    }

    /// Decodes a manifest (a peer's, or one read back from the index) of a file of `size` bytes;
    /// nil for anything that is not one: another size, an average out of range, a chunk count
    /// that does not fit the bytes or the size, a chunk longer than the chunker makes, lengths that
    /// do not add up to the size.
    init?(decoding bytes: [UInt8], size expected: Int64) {
        guard bytes.count >= Self.headerSize, bytes.count <= Self.maxBytes, let form = Form(rawValue: bytes[0]) else { return nil }
        let shift = Int(bytes[1])
        guard Chunker.shifts.contains(shift) else { return nil }
        var size: UInt64 = 0
        for i in 2..<10 { size = size << 8 | UInt64(bytes[i]) }
        var count = 0
        for i in 10..<14 { count = count << 8 | Int(bytes[i]) }
        guard size == UInt64(bitPattern: expected), expected > 0,
              bytes.count == Self.headerSize + count * form.entrySize else { return nil }
        let maximum = Chunker.maximum(shift: shift)
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
            chunks.append(Chunk(length: length, id: Array(bytes[(at + 4)..<(at + form.entrySize)])))
            at += form.entrySize
        }
        guard total == expected else { return nil }
        self.init(shift: shift, size: expected, chunks: chunks, form: form)
    }
}
