import CZlib
import Crypto
import Foundation

/// Small blobs gathered into one pack instead of one loose object file each: a commit of 100,000
/// small files, or a pull of them, makes two files in `objects/pack` (the pack and its index),
/// not 100,000 files and 256 directories. Entries are deflated as they come (zlib level 1, git's
/// level for loose objects, through one stream reset between entries; stored as they are when
/// they look incompressible) into a nameless temporary file beside the packs, each with its id,
/// offset and CRC-32; `flush` writes the pack (header, entries, checksum) and its version 2 index,
/// both durable before they are renamed into place. Fewer than 64 blobs are written loose instead
/// (a commit of one edit makes no pack: many small packs would slow every read).
/// Objects are never deltified here (a later `sync prune` repacks).
///
/// One writer belongs to one repository handle and is used from one task at a time. A blob is
/// readable through that handle once `flush` returned; nothing refers to it before then.
public final class PackWriter {
    private let repository: HistoryRepository
    private let packDirectory: String
    private let temporaryPath: String
    private var temporary: Int32 = -1
    /// Entries not yet written to the temporary file.
    private var buffer: [UInt8] = []
    private var added: Set<String> = []
    /// Per entry, for the index: the object id, where the entry starts in the pack, its CRC-32.
    private var entries: [(id: [UInt8], offset: Int64, crc: UInt32)] = []
    /// Bytes of entries made so far (buffered or in the temporary file).
    private var made: Int64 = 0

    /// Blobs this large or larger are better written loose by the caller (streamed, not held).
    public static let largestBlob = 1 << 20

    public init(_ repository: HistoryRepository) {
        self.repository = repository
        packDirectory = repository.path + "/objects/pack"
        temporaryPath = packDirectory + "/tmp_sync_pack_\(getpid())_\(UInt64.random(in: 0...UInt64.max))"
    }

    deinit {
        if temporary >= 0 { close(temporary) }
        if let deflater { deflateEnd(deflater); deflater.deallocate() }
    }

    /// One deflate stream for every entry, reset between them (a new one per entry cost as much as
    /// deflating a small blob). On the heap: zlib keeps its address.
    private var deflater: UnsafeMutablePointer<z_stream>?

    /// `bytes` deflated at level 1 onto the end of `buffer`.
    private func deflate(_ bytes: [UInt8]) throws {
        if deflater == nil {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            guard deflateInit_(stream, 1, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                stream.deallocate()
                throw Self.failure("deflate a blob", "zlib could not start")
            }
            deflater = stream
        }
        let stream = deflater!
        guard deflateReset(stream) == Z_OK else { throw Self.failure("deflate a blob", "zlib could not reset") }
        let bound = Int(deflateBound(stream, uLong(bytes.count)))
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: bound))
        let rc = buffer.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { src in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.pointee.avail_in = uInt(src.count)
                stream.pointee.next_out = out.baseAddress! + start
                stream.pointee.avail_out = uInt(bound)
                defer { stream.pointee.next_in = nil; stream.pointee.next_out = nil }
                return CZlib.deflate(stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { throw Self.failure("deflate a blob", "zlib error \(rc)") }
        buffer.removeLast(bound - Int(stream.pointee.total_out))
    }

    /// `bytes` as a zlib stream of stored blocks (what zlib's level 0 makes, without its work) onto
    /// the end of `buffer`: for content deflate cannot shrink.
    private func store(_ bytes: [UInt8]) {
        buffer += [0x78, 0x01] // deflate, 32 KiB window, no dictionary, fastest
        var at = 0
        repeat {
            let n = min(65535, bytes.count - at)
            buffer += StoredObject.storedBlockHeader(n, final: at + n == bytes.count)
            buffer.append(contentsOf: bytes[at..<at + n])
            at += n
        } while at < bytes.count
        let a = bytes.withUnsafeBufferPointer { UInt32(adler32(1, $0.baseAddress, uInt($0.count))) }
        buffer += [UInt8(a >> 24), UInt8((a >> 16) & 0xff), UInt8((a >> 8) & 0xff), UInt8(a & 0xff)]
    }

    /// Whether `bytes` look like content deflate cannot shrink (random, or compressed already):
    /// their byte entropy is within 0.1 bit of 8 once the shortfall a sample of that size shows even
    /// for random bytes is allowed for. Under 512 bytes the estimate is too rough: they are deflated.
    static func incompressible(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 512 else { return false }
        return StoredObject.entropy(bytes[...]) > 7.9 - 255 / (2 * Double(bytes.count) * M_LN2)
    }

    /// Adds `bytes` as a blob (unless history or this pack has it already); returns its id.
    public func add(_ bytes: [UInt8]) throws -> ObjectID {
        var hasher = BlobHasher(size: Int64(bytes.count))
        hasher.update(bytes)
        let raw = hasher.digest()
        let id = try ObjectID(hex: BlobHasher.hex(raw))
        try add(bytes, id: id, raw: raw)
        return id
    }

    /// Adds `bytes` as the blob `id`, which the caller checked they hash to (content received
    /// from a peer is hashed as it comes): they are not hashed again.
    public func add(_ bytes: [UInt8], verified id: ObjectID) throws {
        try add(bytes, id: id, raw: id.raw)
    }

    private func add(_ bytes: [UInt8], id: ObjectID, raw: [UInt8]) throws {
        let hex = id.hex
        if added.contains(hex) || repository.contains(id) { return }
        added.insert(hex)
        // A few blobs are held as they are: a commit of one edit stays one loose object, not a pack
        // (many small packs would slow every read). Past `fewest`, they go into the pack.
        if held != nil {
            held!.append((bytes, raw))
            heldBytes += bytes.count
            if held!.count < Self.fewest && heldBytes < 8 << 20 { return }
            let all = held!
            held = nil
            for b in all { try append(b.bytes, id: b.id) }
            return
        }
        try append(bytes, id: raw)
    }

    /// A pack is written out once its entries reach this size (and a new one begun).
    static let largestPack: Int64 = 1 << 30

    /// Blobs held before a pack is worth making.
    static let fewest = 64
    private var held: [(bytes: [UInt8], id: [UInt8])]? = []
    private var heldBytes = 0

    /// Deflates `bytes` as the pack's next entry.
    private func append(_ bytes: [UInt8], id: [UInt8]) throws {
        let entryStart = buffer.count
        // The entry header: type 3 (blob) and the size, 4 bits then 7 bits a byte, low first.
        var size = bytes.count
        var byte = UInt8(0x30 | (size & 0x0f))
        size >>= 4
        while size > 0 {
            buffer.append(byte | 0x80)
            byte = UInt8(size & 0x7f)
            size >>= 7
        }
        buffer.append(byte)
        if Self.incompressible(bytes) { store(bytes) } else { try deflate(bytes) }
        let crc = buffer.withUnsafeBufferPointer { b in
            UInt32(crc32(0, b.baseAddress! + entryStart, uInt(b.count - entryStart)))
        }
        entries.append((id, 12 + made, crc))
        made += Int64(buffer.count - entryStart)
        if buffer.count >= 4 << 20 { try spill() }
        if made >= Self.largestPack { try flush() }
    }

    /// Writes the pack and its index into history (nothing when no blob waits), durable, and
    /// makes them visible to the repository handle.
    public func flush() throws {
        defer { added.removeAll(keepingCapacity: true) }
        if let few = held {
            for b in few { _ = try repository.writeBlob(b.bytes) }
            held = []
            heldBytes = 0
            return
        }
        held = []
        heldBytes = 0
        guard !entries.isEmpty else { return }
        try spill()
        // The pack: its header, the entries, the SHA-1 of both; then its index (version 2). Each
        // is written under a temporary name and made durable, then renamed, the index last (a
        // pack is seen by its index).
        let packTemp = packDirectory + "/tmp_sync_pack_\(getpid())_\(UInt64.random(in: 0...UInt64.max))"
        let idxTemp = packTemp + ".idx"
        let out = open(packTemp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard out >= 0 else { throw Self.failure("create \(packTemp)", String(cString: strerror(errno))) }
        var placed = false
        defer { close(out); if !placed { unlink(packTemp); unlink(idxTemp) } }
        var sha = Insecure.SHA1()
        func emitPack(_ bytes: UnsafeRawBufferPointer) throws { sha.update(bufferPointer: bytes); try Self.emit(bytes, to: out, packTemp) }
        let header: [UInt8] = Array("PACK".utf8) + [0, 0, 0, 2] + Self.be32(UInt32(entries.count))
        try header.withUnsafeBytes { try emitPack($0) }
        guard lseek(temporary, 0, SEEK_SET) == 0 else { throw Self.failure("rewind a pack's entries", String(cString: strerror(errno))) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var total: Int64 = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { read(temporary, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw Self.failure("read a pack's entries", String(cString: strerror(errno))) }
            if n == 0 { break }
            total += Int64(n)
            try chunk.withUnsafeBytes { try emitPack(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
        guard total == made else { throw Self.failure("read a pack's entries", "\(total) bytes, not \(made)") }
        let packSum = Array(sha.finalize())
        try packSum.withUnsafeBytes { try Self.emit($0, to: out, packTemp) }
        guard fsync(out) == 0 else { throw Self.failure("fsync \(packTemp)", String(cString: strerror(errno))) }

        var index: [UInt8] = [0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]
        let sorted = entries.sorted { $0.id.lexicographicallyPrecedes($1.id) }
        var fanout = [UInt32](repeating: 0, count: 256)
        for e in sorted { fanout[Int(e.id[0])] += 1 }
        var running: UInt32 = 0
        for i in 0..<256 { running += fanout[i]; index += Self.be32(running) }
        for e in sorted { index += e.id }
        for e in sorted { index += Self.be32(e.crc) }
        // Offsets fit 31 bits: a pack is closed at `largestPack` (no table of 64-bit offsets).
        for e in sorted {
            guard e.offset < 1 << 31 else { throw Self.failure("index a pack", "offset \(e.offset) past 2 GiB") }
            index += Self.be32(UInt32(e.offset))
        }
        index += packSum
        index += Array(Insecure.SHA1.hash(data: index))
        let idx = open(idxTemp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard idx >= 0 else { throw Self.failure("create \(idxTemp)", String(cString: strerror(errno))) }
        defer { close(idx) }
        try index.withUnsafeBytes { try Self.emit($0, to: idx, idxTemp) }
        guard fsync(idx) == 0 else { throw Self.failure("fsync \(idxTemp)", String(cString: strerror(errno))) }
        let name = "pack-" + BlobHasher.hex(packSum)
        guard rename(packTemp, packDirectory + "/" + name + ".pack") == 0 else {
            throw Self.failure("rename to \(name).pack", String(cString: strerror(errno)))
        }
        guard rename(idxTemp, packDirectory + "/" + name + ".idx") == 0 else {
            let e = errno
            unlink(packDirectory + "/" + name + ".pack")
            throw Self.failure("rename to \(name).idx", String(cString: strerror(e)))
        }
        placed = true
        _ = syncDirectory(packDirectory) // as before: a pack whose directory could not be synced is kept
        repository.indexPacksWhenMany()
        repository.refreshObjects()
        ftruncate(temporary, 0)
        lseek(temporary, 0, SEEK_SET)
        made = 0
        entries.removeAll(keepingCapacity: true)
    }

    private static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    /// Moves the buffered entries to the temporary file (made on first use).
    private func spill() throws {
        if temporary < 0 {
            temporary = open(temporaryPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard temporary >= 0 else { throw Self.failure("create \(temporaryPath)", String(cString: strerror(errno))) }
            unlink(temporaryPath) // nameless from here: a killed process leaves nothing behind
        }
        try buffer.withUnsafeBytes { try Self.emit($0, to: temporary, temporaryPath) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes all of `bytes` to `fd` (`path` names it in an error).
    private static func emit(_ bytes: UnsafeRawBufferPointer, to fd: Int32, _ path: String) throws {
        if let e = writeAll(fd, bytes) { throw Self.failure("write \(path)", String(cString: strerror(e))) }
    }

    private static func failure(_ operation: String, _ message: String) -> GitError {
        GitError(operation: operation, message: message, code: -1)
    }
}
