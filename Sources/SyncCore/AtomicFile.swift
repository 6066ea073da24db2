import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small file-system helpers that keep data safe: atomic replace with fsync, and advisory locks.
public enum FileSystem {
    /// Raises this process's soft limit of open descriptors to `wanted` (at most the hard limit),
    /// if it is lower: many systems start processes at 1,024.
    public static func raiseDescriptorLimit(to wanted: Int) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory: write, fsync, rename,
    /// then fsync the directory, so a crash leaves either the old or the new file. With `durable`
    /// false (files that only live processes read, as in SYNC_DIR/run) the fsyncs are left out:
    /// readers still never see half a file.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = dir + "/.sync-tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fd = try Descriptor(opening: tmp, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        var ok = false
        defer { if !ok { unlink(tmp) } }
        try POSIX.writeAll(fd.raw, bytes, path: tmp)
        fchmod(fd.raw, mode)
        guard !durable || fsync(fd.raw) == 0 else { throw SyncError.io(path: tmp, operation: "fsync", errno: errno) }
        guard rename(tmp, path) == 0 else { throw SyncError.io(path: path, operation: "rename", errno: errno) }
        ok = true
        if durable { syncDirectory(dir) }
    }

    /// fsyncs a directory so that a rename in it survives a power loss.
    public static func syncDirectory(_ dir: String) {
        if let fd = try? Descriptor(opening: dir, O_RDONLY | O_DIRECTORY) { fsync(fd.raw) }
    }

    /// Copies what `source` holds from its current offset to its end (or the bytes of `range`, which
    /// it must hold whole) into `destination` at its offset, 1 MiB at a time, showing each piece to
    /// `each` (to hash it on the way); `what` names the source in errors.
    /// With `sparse`, blocks of zeros become holes (`POSIX.writeSparse`).
    public static func copy(from source: Int32, to destination: Int32, what: String, sparse: Bool = false,
                            range: Range<Int64>? = nil, each: (UnsafeRawBufferPointer) -> Void = { _ in }) throws {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var at = range?.lowerBound ?? 0
        while range.map({ at < $0.upperBound }) ?? true {
            var n: Int
            if let range {
                let want = Int(min(Int64(buf.count), range.upperBound - at))
                repeat { n = buf.withUnsafeMutableBytes { pread(source, $0.baseAddress, want, off_t(at)) } } while n < 0 && errno == EINTR
                guard n > 0 else { throw SyncError.io(path: what, operation: "read", errno: n == 0 ? EIO : errno) }
            } else {
                n = try POSIX.read(source, into: &buf, path: what)
                if n == 0 { break }
            }
            at += Int64(n)
            try buf.withUnsafeBytes {
                let piece = UnsafeRawBufferPointer(rebasing: $0.prefix(n))
                each(piece)
                if sparse { try POSIX.writeSparse(destination, piece, path: what + " (copy)") }
                else { try POSIX.writeAll(destination, piece, path: what + " (copy)") }
            }
        }
        if sparse { try POSIX.endSparse(destination, path: what + " (copy)") }
    }

    /// Whether no process `pid` runs any more (so what it owned is left over); never this one.
    public static func processGone(_ pid: pid_t) -> Bool {
        pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Renames `name` to `newName` in directory `dir` unless `newName` exists (then EEXIST):
    /// renameat2(RENAME_NOREPLACE), looked up at run time as Glibc's module does not export it;
    /// where the file system lacks it, a hard link and an unlink (never a replacement either).
    public static func renameNoReplace(in dir: Int32, _ name: String, to newName: String) -> Bool {
        renameNoReplace(from: dir, name, to: dir, newName)
    }

    /// `name` in `dir` to `newName` in `newDir`, as `renameNoReplace(in:_:to:)`.
    public static func renameNoReplace(from dir: Int32, _ name: String, to newDir: Int32, _ newName: String) -> Bool {
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") {
            if unsafeBitCast(sym, to: RenameAt2.self)(dir, name, newDir, newName, 1 /* RENAME_NOREPLACE */) == 0 { return true }
            if errno != EINVAL && errno != ENOSYS { return false }
        }
        guard linkat(dir, name, newDir, newName, 0) == 0 else { return false }
        unlinkat(dir, name, 0)
        return true
    }

    /// Flushes every written page of the file system holding `fd` (Linux syncfs(2), looked up at
    /// run time since Glibc's module does not export it; sync(2) where it is missing).
    public static func syncFileSystem(of fd: Int32) -> Bool {
        typealias SyncFS = @convention(c) (Int32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") {
            return unsafeBitCast(sym, to: SyncFS.self)(fd) == 0
        }
        sync()
        return true
    }

    /// Starts writing `length` bytes of `fd` from `offset` to disk without waiting (Linux
    /// sync_file_range with SYNC_FILE_RANGE_WRITE, looked up at run time; nothing where it is
    /// missing): the fsync that follows a long write then finds most of it done.
    public static func startWriteback(_ fd: Int32, offset: Int64, length: Int64) {
        typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return }
        _ = unsafeBitCast(sym, to: SyncFileRange.self)(fd, offset, length, 2 /* SYNC_FILE_RANGE_WRITE */)
    }

    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: Int(mode)])
        } catch {
            throw SyncError.io(path: path, operation: "mkdir", errno: (error as NSError).code == 0 ? EIO : Int32((error as NSError).code))
        }
    }

    /// An absolute, normalized path with symlinks resolved where the path exists.
    public static func canonical(_ path: String, relativeTo cwd: String = FileManager.default.currentDirectoryPath) -> String {
        let abs = path.hasPrefix("/") ? path : cwd + "/" + path
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        if realpath(abs, &buf) != nil {
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return (abs as NSString).standardizingPath
    }

    /// Whether `inner` is `outer` or lies below it (both canonical).
    public static func isWithin(_ inner: String, _ outer: String) -> Bool {
        inner == outer || outer == "/" || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
    }
}

/// An exclusive advisory lock on a file (flock), released when the value is dropped or the process dies.
public final class FileLock: @unchecked Sendable {
    private let fd: Int32
    public let path: String

    /// Takes the lock, waiting for it when `wait` is true, else throwing `.locked` at once.
    public init(path: String, wait: Bool = true) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SyncError.io(path: path, operation: "open lock", errno: errno) }
        if flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { throw SyncError.locked(path: path) }
            throw SyncError.io(path: path, operation: "lock", errno: e)
        }
    }

    deinit { flock(fd, LOCK_UN); close(fd) }
}
