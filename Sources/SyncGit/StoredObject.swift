import CGit2
import CZlib
import Foundation

/// Loose objects written without compression: zlib's framing around stored deflate blocks, which
/// any git reader inflates as usual. For content zlib cannot shrink (random, already compressed)
/// this spares all of zlib's work, the largest cost of recording big files.
enum StoredObject {
    /// Whether the first 64 KiB of `fd` look like content zlib cannot shrink: close to 8 bits of
    /// entropy a byte.
    static func incompressible(_ fd: Int32) -> Bool {
        var sample = [UInt8](repeating: 0, count: 64 << 10)
        let n = sample.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 && incompressible(sample[..<n])
    }

    /// Whether content that starts with `sample` (its first 64 KiB, or all of it) looks like
    /// content zlib cannot shrink.
    static func incompressible(_ sample: ArraySlice<UInt8>) -> Bool {
        sample.count >= 4096 && entropy(sample) > 7.9
    }

    /// The bits of entropy a byte of `bytes` carries, by their frequencies (8 for random bytes,
    /// a little less in a short sample).
    /// As log2(n) - (sum of c log2 c) / n, with c log2 c looked up for the counts a small blob
    /// holds (every blob of a pull of small files is looked at: a log2 per byte value was most of it).
    static func entropy(_ bytes: ArraySlice<UInt8>) -> Double {
        guard !bytes.isEmpty else { return 0 }
        var counts = [Int](repeating: 0, count: 256)
        for b in bytes { counts[Int(b)] &+= 1 }
        let n = Double(bytes.count)
        var sum = 0.0
        for c in counts where c > 0 { sum += c < countLogs.count ? countLogs[c] : Double(c) * log2(Double(c)) }
        return log2(n) - sum / n
    }

    /// c log2 c for the counts below 4,096.
    private static let countLogs: [Double] = (0..<4096).map { $0 == 0 ? 0 : Double($0) * log2(Double($0)) }

    /// The header of a stored deflate block of `n` bytes (at most 65,535).
    static func storedBlockHeader(_ n: Int, final: Bool) -> [UInt8] {
        [final ? 1 : 0, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
    }

    /// Writes the `size` bytes of `fd` as a blob in the loose object directory `objects`; returns
    /// its id. Throws if the file does not hold exactly `size` bytes (it changed meanwhile).
    static func writeBlob(from fd: Int32, size: Int64, objects: String, what: String) throws -> ObjectID {
        func fail(_ message: String) -> GitError { GitError(operation: "store \(what)", message: message, code: -1) }
        let sink = try LooseBlobSink(objects: objects, size: size)
        var sha = BlobHasher(size: size)
        var buffer = [UInt8](repeating: 0, count: 16 * LooseBlobSink.blockSize)
        var total: Int64 = 0
        while total < size {
            let want = Int(min(Int64(buffer.count), size - total))
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if n < 0 { if errno == EINTR { continue }; throw fail("read: \(String(cString: strerror(errno)))") }
            if n == 0 { throw fail("the file became shorter while it was stored") }
            total += Int64(n)
            try buffer.withUnsafeBytes { all in
                let chunk = UnsafeRawBufferPointer(rebasing: all[..<n])
                sha.update(chunk)
                try sink.append(chunk)
            }
        }
        var extra: UInt8 = 0
        if read(fd, &extra, 1) != 0 { throw fail("the file grew while it was stored") }
        let id = try ObjectID(hex: sha.finish())
        try sink.finish(as: id)
        return id
    }
}

/// A blob written as a loose object while its bytes go by (read from a file, or received from a
/// peer), without compression (see `StoredObject`). Its writer hashes the bytes and names the
/// object at the end (`finish`); an object not finished leaves nothing behind.
public final class LooseBlobSink {
    /// The most a stored deflate block holds.
    static let blockSize = 65535
    /// Output is written in pieces of about this size.
    private static let flushAt = 1 << 20
    private let objects: String
    private let tmp: String
    private let fd: Int32
    private let size: Int64
    /// zlib's Adler-32 of the object so far (its header and bytes).
    private var adler: uLong = 1
    /// Closed blocks not yet written, then the open block: its 5-byte header slot and its bytes.
    private var output: [UInt8] = []
    /// Where the open block's header slot is in `output`.
    private var openBlock = 0
    private var written: Int64 = 0
    private var done = false

    /// Whether content that starts with `sample` (its first 64 KiB) is better stored this way
    /// than through zlib: it looks as if zlib could not shrink it.
    public static func suits(_ sample: ArraySlice<UInt8>) -> Bool { StoredObject.incompressible(sample) }

    /// A blob of `size` bytes, in the loose object directory `objects`.
    public init(objects: String, size: Int64) throws {
        self.objects = objects
        self.size = size
        tmp = objects + "/tmp_sync_\(getpid())_\(UInt64.random(in: 0...UInt64.max))"
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw GitError(operation: "store blob", message: "cannot create \(tmp): \(String(cString: strerror(errno)))", code: -1) }
        output.reserveCapacity(Self.flushAt + Self.blockSize + 16)
        output += [0x78, 0x01] // zlib header: deflate, 32 KiB window, no dictionary
        openBlock = output.count
        output += [0, 0, 0, 0, 0]
        let header = Array("blob \(size)\0".utf8)
        adler = header.withUnsafeBytes { adler32_z(adler, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), $0.count) }
        output += header
    }

    deinit {
        close(fd)
        if !done { unlink(tmp) }
    }

    /// The next bytes of the blob; more than the announced size is an error.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        written += Int64(bytes.count)
        guard written <= size else { throw fail("more than the \(size) bytes announced") }
        adler = adler32_z(adler, bytes.baseAddress?.assumingMemoryBound(to: Bytef.self), bytes.count)
        var i = 0
        while i < bytes.count {
            let room = Self.blockSize - (output.count - openBlock - 5)
            if room == 0 {
                // A full block is closed only when more comes: the last one must be marked final.
                closeBlock(final: false)
                if output.count >= Self.flushAt { try flush() }
                openBlock = output.count
                output += [0, 0, 0, 0, 0]
                continue
            }
            let take = min(room, bytes.count - i)
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]))
            i += take
        }
    }

    /// Ends the blob, which must be the announced size, and names it `id`: the caller's hash of
    /// exactly the bytes given (an object of that name already there is kept).
    public func finish(as id: ObjectID) throws {
        guard written == size else { throw fail("\(written) bytes of the \(size) announced") }
        closeBlock(final: true)
        let a = UInt32(truncatingIfNeeded: adler)
        output += [UInt8(a >> 24), UInt8((a >> 16) & 0xff), UInt8((a >> 8) & 0xff), UInt8(a & 0xff)]
        try flush()
        // Durable before any commit names it; then out of the page cache, which a history copy,
        // rarely read again, has no claim on (a big pull would otherwise push out what the user
        // reads with twice what it brings).
        guard fdatasync(fd) == 0 else { throw fail("fsync \(tmp): \(String(cString: strerror(errno)))") }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        let hex = id.hex
        let dir = objects + "/" + hex.prefix(2)
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw fail("mkdir \(dir): \(String(cString: strerror(errno)))") }
        let final = dir + "/" + hex.dropFirst(2)
        if access(final, F_OK) != 0 {
            guard rename(tmp, final) == 0 else { throw fail("rename to \(final): \(String(cString: strerror(errno)))") }
            done = true
            // The name too, before a commit names the object (libgit2 does the same for its own).
            if let e = syncDirectory(dir) { throw fail("fsync \(dir): \(String(cString: strerror(e)))") }
        }
    }

    private func closeBlock(final: Bool) {
        let n = output.count - openBlock - 5
        let header = StoredObject.storedBlockHeader(n, final: final)
        for k in 0..<5 { output[openBlock + k] = header[k] }
    }

    /// Writes out what `output` holds (closed blocks only, or the whole object at its end).
    private func flush() throws {
        if let e = output.withUnsafeBytes({ writeAll(fd, $0) }) { throw fail("write \(tmp): \(String(cString: strerror(e)))") }
        output.removeAll(keepingCapacity: true)
    }

    private func fail(_ message: String) -> GitError { GitError(operation: "store blob", message: message, code: -1) }
}
