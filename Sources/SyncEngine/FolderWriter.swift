import Foundation
import SyncCore
import SyncGit

/// The one way into a folder's files for a pull, a restore and a conflict copy: every path is
/// reached beneath the folder without following a link, content goes into a temporary file beside
/// its target that is verified against its hash and made durable, and it is renamed into place
/// only if the target is still what the caller saw (a local edit since then wins over our write).
struct FolderWriter {
    let root: String

    /// A parent directory is a link or not a directory: nothing beneath it is touched.
    struct Blocked: Error { let path: RelativePath? }
    /// The target changed since the caller looked: nothing was replaced.
    struct Changed: Error { let path: RelativePath }

    /// A descriptor of the directory `path` (nil: the root), made when missing and `create`.
    func directory(_ path: RelativePath?, create: Bool = false) throws -> Int32 {
        do { return try Beneath.directory(path, in: root, create: create) } catch {
            if case SyncError.io(_, _, let e) = error, e == ELOOP || e == ENOTDIR { throw Blocked(path: path) }
            throw error
        }
    }

    /// The stat data of `path`, never following a link on the way; nil when absent.
    func observe(_ path: RelativePath) throws -> Observation? {
        let dir: Int32
        do { dir = try directory(path.parent) } catch {
            if case SyncError.io(_, _, let e) = error, e == ENOENT { return nil }
            throw error
        }
        defer { close(dir) }
        var st = stat()
        guard fstatat(dir, path.name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw SyncError.io(path: absolute(path), operation: "lstat", errno: errno)
        }
        return Scanner.observation(path, st)
    }

    /// Whether `path` is still what the index row says (absent when there is no row or it is a deletion).
    func unchanged(_ path: RelativePath, _ local: FileEntry?) throws -> Bool {
        let o = try observe(path)
        guard let l = local, !l.deleted else { return o == nil }
        guard let o, o.kind == l.kind else { return false }
        if o.kind == .directory { return true }
        return o.size == l.size && o.mtimeNs == l.mtimeNs && o.inode == l.inode && o.executable == l.executable
    }

    /// Makes the directory `path` and its parents.
    func makeDirectory(_ path: RelativePath) throws {
        close(try directory(path, create: true))
    }

    /// The last step of every write: `tmp` in `dir` (complete and durable) replaces `target` if
    /// the target is still `current`; the directory is made durable.
    func rename(_ tmp: String, in dir: Int32, to target: RelativePath, replacing current: FileEntry?) throws {
        guard try unchanged(target, current) else { throw Changed(path: target) }
        guard renameat(dir, tmp, dir, target.name) == 0 else {
            throw SyncError.io(path: absolute(target), operation: "rename", errno: errno)
        }
        fsync(dir)
    }

    /// Writes a file at `path` whose content `fill` writes into a temporary file; it must hash to
    /// `hash`. The mode is the replaced file's (else the umask's), with x bits as `executable` says.
    func placeFile(_ path: RelativePath, hash: String, executable: Bool, replacing current: FileEntry?,
                   fill: (Int32) throws -> Void) throws {
        let dir = try directory(path.parent, create: true)
        defer { close(dir) }
        let tmp = Self.temporaryName()
        let fd = openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SyncError.io(path: absolute(path), operation: "create temporary", errno: errno) }
        var placed = false
        defer {
            close(fd)
            if !placed { unlinkat(dir, tmp, 0) }
        }
        try fill(fd)
        let written = try HistoryRepository.hashFile("/proc/self/fd/\(fd)")
        guard written.hex == hash else {
            throw SyncError.corrupt(path: absolute(path), message: "new content hashes to \(written.short), not \(hash.prefix(7))")
        }
        fchmod(fd, mode(dir, path, current, executable: executable))
        guard fsync(fd) == 0 else { throw SyncError.io(path: absolute(path), operation: "fsync", errno: errno) }
        try rename(tmp, in: dir, to: path, replacing: current)
        placed = true
    }

    /// Makes `path` a symbolic link to `target`.
    func placeLink(_ path: RelativePath, target: String, replacing current: FileEntry?) throws {
        let dir = try directory(path.parent, create: true)
        defer { close(dir) }
        let tmp = Self.temporaryName()
        guard symlinkat(target, dir, tmp) == 0 else { throw SyncError.io(path: absolute(path), operation: "symlink", errno: errno) }
        do { try rename(tmp, in: dir, to: path, replacing: current) } catch { unlinkat(dir, tmp, 0); throw error }
    }

    /// Moves the file or link at `path` aside to `copy` (in the same directory) if it is still
    /// `current`; never over anything at `copy`: a conflict copy is never replaced.
    func moveAside(_ path: RelativePath, to copy: RelativePath, expecting current: FileEntry) throws {
        let dir = try directory(path.parent)
        defer { close(dir) }
        guard try unchanged(path, current) else { throw Changed(path: path) }
        guard FileSystem.renameNoReplace(in: dir, path.name, to: copy.name) else {
            if errno == EEXIST { throw Changed(path: copy) }
            throw SyncError.io(path: absolute(copy), operation: "rename", errno: errno)
        }
        fsync(dir)
    }

    /// Removes the file or link at `path` if it is still `current`.
    func remove(_ path: RelativePath, expecting current: FileEntry) throws {
        let dir = try directory(path.parent)
        defer { close(dir) }
        guard try unchanged(path, current) else { throw Changed(path: path) }
        if unlinkat(dir, path.name, 0) != 0 && errno != ENOENT {
            throw SyncError.io(path: absolute(path), operation: "unlink", errno: errno)
        }
    }

    /// The mode a new file gets: the replaced file's, else the umask's, with x bits as asked.
    func mode(_ dir: Int32, _ path: RelativePath, _ current: FileEntry?, executable: Bool) -> mode_t {
        var mode: mode_t = 0o666 & ~currentUmask
        var cs = stat()
        if let c = current, !c.deleted, c.kind == .file, fstatat(dir, path.name, &cs, AT_SYMLINK_NOFOLLOW) == 0 {
            mode = cs.st_mode & 0o7777 & ~0o111
        }
        if executable { mode |= (mode & 0o444) >> 2 }
        return mode
    }

    func absolute(_ path: RelativePath) -> String { root + "/" + path.rawValue }

    static func temporaryName() -> String {
        Scanner.temporaryPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}
