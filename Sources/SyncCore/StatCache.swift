import CZlib
import Foundation

/// A copy of the index's stat rows (path, kind, size, times, inode, flags) in path order, in one
/// flat file beside the index: what a no-change rescan compares the folder with, read at the
/// speed of the disk instead of row by row from SQLite (as git's index serves `git status`).
///
/// It is only ever a copy: it names the index state it was taken from (`FolderIndex.rowsStamp`,
/// a new random value with every write to the rows) and is used only while the index still
/// holds that state; a checksum covers the whole file. Anything else, a missing, stale, short or
/// damaged file, and the index is read instead. Never synced: a copy lost in a crash is a miss.
///
/// Layout, little-endian: "SYNCSTC1", the stamp (u16 length, bytes), the rows (u16 path length,
/// path, u8 kind, u8 flags: 1 executable 2 deleted, i64 size, mtime, ctime, u64 inode), the row
/// count (u64), then the CRC-32 of everything before it (u32).
public enum StatCache {
    static let magic = Array("SYNCSTC1".utf8)
    static let fixed = 2 + 8 * 4 // kind and flags, then four 64-bit fields
    static let chunk = 1 << 20

    /// The copy kept at `path`, if it is whole and was taken from the index state `stamp`.
    public static func open(_ path: String, stamp: String) -> Reader? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        return Reader(fd: fd, path: path, stamp: stamp) // which closes `fd`, also when it fails
    }

    /// A copy found damaged while it was read: a row malformed or out of order, or the checksum.
    public struct Damaged: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "\(path): stat cache damaged" }
    }

    /// The rows of a whole copy, in order, read a chunk at a time.
    public final class Reader {
        private let fd: Int32
        private let path: String
        private var end: Int64 = 0 // where the rows end (the count and checksum follow)
        private var remaining: UInt64 = 0
        private var buffer: [UInt8] = []
        private var at = 0
        private var offset: Int64 = 0
        private var last: [UInt8] = []
        /// The row count and the checksum, from the end of the file; the checksum of what was read.
        private var trailer = [UInt8](repeating: 0, count: 12)
        private var crc = crc32_z(0, nil, 0)

        /// Opens a copy whose header names `stamp`. The checksum is taken as the rows are read and
        /// checked after the last (`advance` throws `Damaged` then): whoever used the rows of a
        /// damaged copy throws their work away.
        fileprivate init?(fd: Int32, path: String, stamp: String) {
            self.fd = fd
            self.path = path
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_size >= Int64(magic.count + 2 + 12) else { return nil }
            guard trailer.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 12, off_t(st.st_size - 12)) }) == 12 else { return nil }
            end = Int64(st.st_size) - 12
            guard let head = try? take(magic.count), Array(head) == magic,
                  let n = try? Int(take(2).le), let s = try? take(n), String(decoding: s, as: UTF8.self) == stamp
            else { return nil }
            remaining = trailer[0..<8].le
        }

        deinit { close(fd) }

        /// The row `advance` moved to: its stat data, and where its path lies in `buffer`.
        public private(set) var rowStat = IndexStat(kind: .file, size: 0, mtimeNs: 0, ctimeNs: 0, inode: 0, executable: false, deleted: false)
        private var rowAt = 0, rowLength = 0

        /// Moves to the next row; false after the last. Throws `Damaged` on a row malformed or out
        /// of order, or when the checksum at the end does not hold.
        public func advance() throws -> Bool {
            guard remaining > 0 else {
                guard offset - Int64(buffer.count - at) == end else { throw Damaged(path: path) }
                crc = trailer.withUnsafeBytes { crc32_z(crc, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), 8) }
                guard trailer[8...].le == UInt64(UInt32(truncatingIfNeeded: crc)) else { throw Damaged(path: path) }
                return false
            }
            remaining -= 1
            try fill(2)
            let length = buffer.withUnsafeBytes { Int(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
            guard length > 0, length <= 4096 else { throw Damaged(path: path) }
            try fill(2 + length + StatCache.fixed)
            let row: IndexStat? = buffer.withUnsafeBytes { raw in
                let name = UnsafeRawBufferPointer(rebasing: raw[(at + 2)..<(at + 2 + length)])
                // Strictly after the last row, bytes compared (the order the scan merges in).
                let ordered = last.isEmpty || last.withUnsafeBytes { RelativePath.compareBytes(name, $0) > 0 }
                guard ordered else { return nil }
                last.removeAll(keepingCapacity: true)
                last.append(contentsOf: name)
                let f = at + 2 + length
                func u64(_ i: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: f + i, as: UInt64.self)) }
                let kind: FileEntry.Kind
                switch raw[f] {
                case 0: kind = .file
                case 1: kind = .symlink
                case 2: kind = .directory
                default: return nil
                }
                let flags = raw[f + 1]
                return IndexStat(kind: kind, size: Int64(bitPattern: u64(2)), mtimeNs: Int64(bitPattern: u64(10)),
                                 ctimeNs: Int64(bitPattern: u64(18)), inode: u64(26),
                                 executable: flags & 1 != 0, deleted: flags & 2 != 0)
            }
            guard let row else { throw Damaged(path: path) }
            rowStat = row
            rowAt = at + 2
            rowLength = length
            at += 2 + length + StatCache.fixed
            return true
        }

        /// The row's path against `other`, bytes compared: negative when the row's sorts first.
        public func compare(_ other: RelativePath) -> Int {
            buffer.withUnsafeBytes { raw in
                let row = UnsafeRawBufferPointer(rebasing: raw[rowAt..<(rowAt + rowLength)])
                return other.rawValue.utf8.withContiguousStorageIfAvailable { RelativePath.compareBytes(row, UnsafeRawBufferPointer($0)) }
                    ?? RelativePath.compareBytes(String(decoding: row, as: UTF8.self), other.rawValue)
            }
        }

        /// The row's path (made only for the rows a scan reports: those gone from the folder).
        public func rowPath() throws -> RelativePath {
            let text = buffer.withUnsafeBytes { raw in
                String.validUTF8(UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[rowAt..<(rowAt + rowLength)]))
            }
            guard let text else { throw Damaged(path: path) }
            return RelativePath(unchecked: text)
        }

        /// Makes the buffer hold at least `n` bytes from `at`, reading on from the file.
        private func fill(_ n: Int) throws {
            guard buffer.count - at < n else { return }
            buffer.removeSubrange(0..<at)
            at = 0
            let want = Int(min(Int64(max(chunk, n)), end - offset))
            guard want > 0 else { throw Damaged(path: path) }
            let old = buffer.count
            buffer += repeatElement(0, count: want)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + old, want, off_t(offset)) }
            guard got == want else { throw Damaged(path: path) }
            crc = buffer.withUnsafeBytes { crc32_z(crc, $0.baseAddress!.assumingMemoryBound(to: Bytef.self) + old, want) }
            offset += Int64(got)
            guard buffer.count >= n else { throw Damaged(path: path) }
        }

        /// The next `n` bytes (the header), as `fill` reads them.
        private func take(_ n: Int) throws -> ArraySlice<UInt8> {
            try fill(n)
            defer { at += n }
            return buffer[at..<(at + n)]
        }
    }

    /// Writes a copy, a row at a time in path order, into a temporary file that `finish` names.
    public final class Writer {
        private let path: String
        private let temporary: String
        private let fd: Int32
        private var buffer: [UInt8] = []
        private var crc = crc32_z(0, nil, 0)
        private var count: UInt64 = 0
        private var failed = false, done = false

        /// Writes into `temporary` (a scratch file of the state directory, on the same file system,
        /// which sweeps those of processes that died: `StateDirectory.temporaryPath`); nil when it
        /// cannot be made (no copy then, and nothing else changes).
        public init?(_ path: String, temporary: String, stamp: String) {
            self.path = path
            self.temporary = temporary
            fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return nil }
            buffer.reserveCapacity(chunk + 4200)
            buffer += magic
            buffer.appendLittleEndian(UInt16(stamp.utf8.count))
            buffer += stamp.utf8
        }

        deinit {
            close(fd)
            if !done { unlink(temporary) }
        }

        public func add(_ path: RelativePath, _ s: IndexStat) {
            guard !failed else { return }
            let name = path.rawValue.utf8
            buffer.appendLittleEndian(UInt16(name.count))
            buffer += name
            buffer.append(s.kind == .file ? 0 : s.kind == .symlink ? 1 : 2)
            buffer.append((s.executable ? 1 : 0) | (s.deleted ? 2 : 0))
            buffer.appendLittleEndian(s.size)
            buffer.appendLittleEndian(s.mtimeNs)
            buffer.appendLittleEndian(s.ctimeNs)
            buffer.appendLittleEndian(s.inode)
            count += 1
            if buffer.count >= chunk { flush() }
        }

        private func flush() {
            guard !failed, !buffer.isEmpty else { return }
            crc = buffer.withUnsafeBytes { crc32_z(crc, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), $0.count) }
            if (try? POSIX.writeAll(fd, buffer, path: temporary)) == nil { failed = true }
            buffer.removeAll(keepingCapacity: true)
        }

        /// Adds the count and the checksum and renames the copy into place; false when it could
        /// not be written (the old copy, if any, is removed then: it may be stale).
        @discardableResult
        public func finish() -> Bool {
            buffer.appendLittleEndian(count)
            flush()
            var tail: [UInt8] = []
            tail.appendLittleEndian(UInt32(truncatingIfNeeded: crc))
            if !failed, (try? POSIX.writeAll(fd, tail, path: temporary)) == nil { failed = true }
            guard !failed, rename(temporary, path) == 0 else { unlink(path); return false }
            done = true
            return true
        }
    }

    /// Removes the copy (an index that cannot be read at one state, or a test).
    public static func remove(_ path: String) { unlink(path) }
}

private extension Array<UInt8> {
    /// Appends `value`'s bytes, little-endian (no array made for them: a row has five numbers).
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

private extension ArraySlice<UInt8> {
    /// The slice's bytes (at most eight) as a little-endian unsigned integer.
    var le: UInt64 {
        var v: UInt64 = 0
        for (i, b) in enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
}
