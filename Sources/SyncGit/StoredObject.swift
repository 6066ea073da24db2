import CGit2
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
        guard n >= 4096 else { return false }
        return entropy(sample[..<n]) > 7.9
    }

    /// The bits of entropy a byte of `bytes` carries, by their frequencies (8 for random bytes,
    /// a little less in a short sample).
    static func entropy(_ bytes: ArraySlice<UInt8>) -> Double {
        var counts = [Int](repeating: 0, count: 256)
        for b in bytes { counts[Int(b)] &+= 1 }
        let n = Double(bytes.count)
        var entropy = 0.0
        for c in counts where c > 0 {
            let p = Double(c) / n
            entropy -= p * log2(p)
        }
        return entropy
    }

    /// The header of a stored deflate block of `n` bytes (at most 65,535).
    static func storedBlockHeader(_ n: Int, final: Bool) -> [UInt8] {
        [final ? 1 : 0, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
    }

    /// Writes the `size` bytes of `fd` as a blob in the loose object directory `objects`; returns
    /// its id. Throws if the file does not hold exactly `size` bytes (it changed meanwhile).
    static func writeBlob(from fd: Int32, size: Int64, objects: String, what: String) throws -> ObjectID {
        func fail(_ message: String) -> GitError { GitError(operation: "store \(what)", message: message, code: -1) }
        let tmp = objects + "/tmp_sync_\(getpid())_\(UInt64.random(in: 0...UInt64.max))"
        let out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard out >= 0 else { throw fail("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var renamed = false
        defer { close(out); if !renamed { unlink(tmp) } }

        var sha = BlobHasher(size: size)
        var adler = Adler32()
        var output: [UInt8] = [0x78, 0x01] // zlib header: deflate, 32 KiB window, no dictionary
        func block(_ bytes: UnsafeRawBufferPointer, final: Bool) {
            let n = bytes.count
            output += storedBlockHeader(n, final: final)
            output.append(contentsOf: bytes)
        }
        func flush() throws {
            if let e = output.withUnsafeBytes({ writeAll(out, $0) }) { throw fail("write \(tmp): \(String(cString: strerror(e)))") }
            output.removeAll(keepingCapacity: true)
        }
        let header = Array("blob \(size)\0".utf8)
        adler.update(header)
        header.withUnsafeBytes { block($0, final: size == 0) }

        let blockSize = 65535
        var buffer = [UInt8](repeating: 0, count: 16 * blockSize)
        var total: Int64 = 0
        while total < size {
            // Fill the buffer (or take what is left), then cut it into stored blocks.
            var have = 0
            let want = Int(min(Int64(buffer.count), size - total))
            while have < want {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + have, want - have) }
                if n < 0 { if errno == EINTR { continue }; throw fail("read: \(String(cString: strerror(errno)))") }
                if n == 0 { throw fail("the file became shorter while it was stored") }
                have += n
            }
            total += Int64(have)
            try buffer.withUnsafeBytes { all in
                let chunk = UnsafeRawBufferPointer(rebasing: all[..<have])
                sha.update(chunk)
                adler.update(chunk)
                var i = 0
                while i < have {
                    let j = min(i + blockSize, have)
                    block(UnsafeRawBufferPointer(rebasing: chunk[i..<j]), final: total == size && j == have)
                    i = j
                }
                try flush()
            }
        }
        var extra: UInt8 = 0
        if read(fd, &extra, 1) != 0 { throw fail("the file grew while it was stored") }
        let a = adler.value
        output += [UInt8(a >> 24), UInt8((a >> 16) & 0xff), UInt8((a >> 8) & 0xff), UInt8(a & 0xff)]
        try flush()

        let hex = sha.finish()
        let dir = objects + "/" + hex.prefix(2)
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw fail("mkdir \(dir): \(String(cString: strerror(errno)))") }
        let final = dir + "/" + hex.dropFirst(2)
        if access(final, F_OK) != 0 {
            guard rename(tmp, final) == 0 else { throw fail("rename to \(final): \(String(cString: strerror(errno)))") }
            renamed = true
        }
        return try ObjectID(hex: hex)
    }
}

/// zlib's Adler-32 checksum.
struct Adler32 {
    private var a: UInt32 = 1, b: UInt32 = 0
    var value: UInt32 { b << 16 | a }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        while i < n {
            // 5552 bytes is the most that cannot overflow 32 bits before the modulo.
            let end = min(i + 5552, n)
            var a = self.a, b = self.b
            while i < end { a &+= UInt32(bytes[i]); b &+= a; i += 1 }
            self.a = a % 65521
            self.b = b % 65521
        }
    }
}
