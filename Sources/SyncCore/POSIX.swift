import Foundation

/// read(2) and write(2), wrapped once: again when a signal interrupts them, whole writes, and
/// failures as `SyncError.io` naming `path` (what the descriptor is, for the message).
public enum POSIX {
    /// Up to `buffer.count` bytes into `buffer`; 0 at the end of the file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw SyncError.io(path: path, operation: "read", errno: errno) }
        }
    }

    /// Up to `count` bytes of `buffer` (from its start); 0 at the end of the file.
    public static func read(_ fd: Int32, into buffer: inout [UInt8], count: Int? = nil, path: String) throws -> Int {
        let count = min(count ?? buffer.count, buffer.count)
        return try buffer.withUnsafeMutableBytes { try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0.prefix(count)), path: path) }
    }

    /// Up to `max` bytes; empty at the end of the file.
    public static func read(_ fd: Int32, max: Int, path: String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = try read(fd, into: &buffer, path: path)
        buffer.removeSubrange(n...)
        return buffer
    }

    /// All of `bytes`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw SyncError.io(path: path, operation: "write", errno: errno)
            }
            off += n
        }
    }

    /// All of `bytes`.
    public static func writeAll<Bytes: ContiguousBytes>(_ fd: Int32, _ bytes: Bytes, path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    /// Appends `bytes` at the end of the file (its offset must be there), but leaves out every
    /// 4 KiB block of the file, or the part of one these bytes cover, that would hold only zeros
    /// (as `cp --sparse=auto` does): what is left out lies past the end and reads as zeros, so a
    /// sparse file stays sparse, whatever the pieces it comes in. `endSparse` then sets the
    /// length, which a hole at the end leaves short.
    public static func writeSparse(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        let position = Int(Glibc.lseek(fd, 0, SEEK_CUR))
        guard position >= 0 else { return try writeAll(fd, bytes, path: path) }
        _ = try writeSparse(fd, bytes, at: position, path: path)
    }

    /// Whether every byte is zero (false for none).
    public static func allZeros(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let p = bytes.baseAddress, !bytes.isEmpty else { return false }
        return p.load(as: UInt8.self) == 0 && memcmp(p, p + 1, bytes.count - 1) == 0
    }

    /// `writeSparse` for a caller that knows the file's offset (`position`): no seek to find it.
    /// Returns whether it ended on skipped zeros (then the file is shorter than its offset until
    /// `endSparse`).
    public static func writeSparse(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at position: Int, path: String) throws -> Bool {
        let block = 4096
        func zeros(_ at: Int, _ n: Int) -> Bool { allZeros(UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])) }
        var i = 0, start = 0 // bytes[start..<i] are to be written; a skip is pending after them
        var skipping = 0
        while i < bytes.count {
            let n = min(block - (position + i) % block, bytes.count - i) // to the next block edge
            if zeros(i, n) {
                if i > start { try writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[start..<i]), path: path) }
                skipping += n
                i += n
                start = i
                continue
            }
            if skipping > 0 {
                guard Glibc.lseek(fd, off_t(skipping), SEEK_CUR) >= 0 else { throw SyncError.io(path: path, operation: "seek", errno: errno) }
                skipping = 0
            }
            i += n
        }
        if bytes.count > start { try writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[start...]), path: path) }
        if skipping > 0, Glibc.lseek(fd, off_t(skipping), SEEK_CUR) < 0 { throw SyncError.io(path: path, operation: "seek", errno: errno) }
        return skipping > 0
    }

    /// Sets the length of a file written with `writeSparse` to its offset (a hole at its end is
    /// otherwise not part of it).
    public static func endSparse(_ fd: Int32, path: String) throws {
        let end = Glibc.lseek(fd, 0, SEEK_CUR)
        var st = stat()
        guard end >= 0, fstat(fd, &st) == 0 else { throw SyncError.io(path: path, operation: "stat", errno: errno) }
        if st.st_size < end, ftruncate(fd, end) != 0 { throw SyncError.io(path: path, operation: "truncate", errno: errno) }
    }

    /// Appends `line` and a newline to the file at `path` (made, mode 0600, when `create`; else a
    /// missing file is left missing). Best effort: false when it could not.
    @discardableResult
    public static func append(line: String, to path: String, create: Bool = true) -> Bool {
        guard let fd = try? Descriptor(opening: path, O_WRONLY | O_APPEND | (create ? O_CREAT : 0), mode: 0o600) else { return false }
        return (try? writeAll(fd.raw, Array((line + "\n").utf8), path: path)) != nil
    }
}

/// An open file descriptor that closes itself when its owner's scope ends (or when `take()`
/// hands the number on). Noncopyable: exactly one owner, no `close` to forget or to run twice.
public struct Descriptor: ~Copyable {
    /// The descriptor number, for the system call at hand; never closed by a caller.
    public let raw: Int32

    /// Whether it closes `raw` at its end: a borrowed one names a descriptor another owner keeps
    /// open for longer (a `DirectoryCache`'s).
    private let owned: Bool

    /// Owns `raw` (a descriptor just opened; must be ≥ 0).
    public init(_ raw: Int32) { self.raw = raw; owned = true }

    /// Borrows `raw`, which its owner keeps open at least as long as this is used.
    init(borrowing raw: Int32) { self.raw = raw; owned = false }

    /// Opens `path` (`open(2)` flags, with O_CLOEXEC added); the failure names `path`.
    public init(opening path: String, _ flags: Int32, mode: mode_t = 0) throws {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SyncError.io(path: path, operation: "open", errno: errno) }
        self.raw = fd
        owned = true
    }

    /// Gives the number up: the caller closes it now.
    public consuming func take() -> Int32 {
        precondition(owned, "a borrowed descriptor cannot be handed on")
        let fd = raw
        discard self
        return fd
    }

    deinit { if owned { close(raw) } }
}

/// Lines from a descriptor (a pipe: sync-commit's output), without their newline, as they come.
public struct LineReader {
    private let fd: Int32
    private let what: String
    private var pending: [UInt8] = []
    private var ended = false

    public init(_ fd: Int32, what: String) { self.fd = fd; self.what = what }

    /// The next line; a last line without a newline counts; nil at the end of the input.
    public mutating func next() throws -> String? {
        while true {
            if let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            if ended {
                guard !pending.isEmpty else { return nil }
                defer { pending = [] }
                return String(decoding: pending, as: UTF8.self)
            }
            let chunk = try POSIX.read(fd, max: 4096, path: what)
            if chunk.isEmpty { ended = true } else { pending += chunk }
        }
    }
}
