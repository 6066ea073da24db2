import Foundation
import SyncCore
import SyncGit

/// The one way into a folder's files for a pull, a restore and a conflict copy: every path is
/// reached beneath the folder without following a link, content goes into a temporary file beside
/// its target that is verified against its hash and made durable, and it is renamed into place
/// only if the target is still what the caller saw (a local edit since then wins over our write).
struct FolderWriter {
    let root: String
    /// When given, every change is noted there so that a batch can be undone whole (`Journal`).
    var journal: Journal?
    /// Told of each temporary before it is made (the puller notes them, to remove what a killed
    /// process left once its next whole pull is done).
    var noteTemporary: ((RelativePath) -> Void)?
    /// Directories kept open for the batch under way (see `DirectoryCache`); nil walks every time.
    var directories: DirectoryCache?
    /// Tests: called between the check of a target and the rename that replaces it.
    var beforeRename: ((RelativePath) -> Void)?

    init(root: String, journal: Journal? = nil, noteTemporary: ((RelativePath) -> Void)? = nil, directories: DirectoryCache? = nil) {
        self.root = root; self.journal = journal; self.noteTemporary = noteTemporary; self.directories = directories
    }

    /// The same writer walking every path anew (undoing a batch: what it changed is put back).
    var uncached: FolderWriter { var w = self; w.directories = nil; return w }

    /// A new temporary name beside `path`, noted first.
    private func temporary(beside path: RelativePath) throws -> String {
        try temporary(in: path.parent).name
    }

    /// A new temporary in the directory `parent` (nil: the top), noted first.
    private func temporary(in parent: RelativePath?) throws -> RelativePath {
        let name = Self.temporaryName()
        let t = try parent.map { try $0.appending(name) } ?? RelativePath(name)
        noteTemporary?(t)
        return t
    }

    /// A parent directory is a link or not a directory: nothing beneath it is touched. `link`
    /// tells which: a link (never followed), or a file (which a later change may make a directory).
    struct Blocked: Error { let path: RelativePath?; var link = true }
    /// The target changed since the caller looked: nothing was replaced.
    struct Changed: Error { let path: RelativePath }

    /// A descriptor of the directory `path` (nil: the root), made when missing and `create`.
    func directory(_ path: RelativePath?, create: Bool = false) throws -> Descriptor {
        do { return try Beneath.directory(path, in: root, create: create, cache: directories) { journal?.note(.madeDirectory($0)) } } catch {
            if case SyncError.io(_, _, let e) = error, e == ELOOP || e == ENOTDIR { throw Blocked(path: path, link: blockedByLink(path)) }
            throw error
        }
    }

    /// Whether the first component of `path` that is not a directory is a link (or gone).
    private func blockedByLink(_ path: RelativePath?) -> Bool {
        var walked = root
        for part in path?.components ?? [] {
            walked += "/" + part
            var st = stat()
            guard lstat(walked, &st) == 0 else { return true }
            if (st.st_mode & S_IFMT) != S_IFDIR { return (st.st_mode & S_IFMT) == S_IFLNK }
        }
        return true
    }

    /// The stat data of `path`, never following a link on the way; nil when absent.
    func observe(_ path: RelativePath) throws -> Observation? {
        let dir: Descriptor
        do { dir = try directory(path.parent) } catch let b as Blocked where !b.link {
            return nil // nothing is below a file
        } catch {
            if case SyncError.io(_, _, let e) = error, e == ENOENT { return nil }
            throw error
        }
        return try observe(path, in: dir)
    }

    /// The stat data of `path`, whose directory is open as `dir`; nil when absent.
    func observe(_ path: RelativePath, in dir: borrowing Descriptor) throws -> Observation? {
        var st = stat()
        guard fstatat(dir.raw, path.name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw SyncError.io(path: absolute(path), operation: "lstat", errno: errno)
        }
        return Scanner.observation(path, st)
    }

    /// Whether `path` is still what the index row says (absent when there is no row or it is a deletion).
    func unchanged(_ path: RelativePath, _ local: FileEntry?) throws -> Bool {
        Self.matches(try observe(path), local)
    }

    /// `unchanged` for a path whose directory is open as `dir` (the one a rename is made in).
    func unchanged(_ path: RelativePath, _ local: FileEntry?, in dir: borrowing Descriptor) throws -> Bool {
        Self.matches(try observe(path, in: dir), local)
    }

    private static func matches(_ o: Observation?, _ local: FileEntry?) -> Bool {
        guard let l = local, !l.deleted else { return o == nil }
        guard let o, o.kind == l.kind else { return false }
        if o.kind == .directory { return true }
        return o.size == l.size && o.mtimeNs == l.mtimeNs && o.inode == l.inode && o.executable == l.executable
    }

    /// Makes the directory `path` and its parents.
    func makeDirectory(_ path: RelativePath) throws {
        _ = try directory(path, create: true)
    }

    /// The last step of every write: `tmp` in `dir` (complete and durable) replaces `target` if
    /// the target is still `current`; the directory is made durable.
    func rename(_ tmp: String, in dir: borrowing Descriptor, to target: RelativePath, replacing current: FileEntry?) throws {
        guard try unchanged(target, current, in: dir) else { throw Changed(path: target) }
        beforeRename?(target)
        guard let c = current, !c.deleted else {
            // Nothing was there: nothing is replaced, not even a file made since the check (a
            // plain rename would drop it with no copy kept).
            guard FileSystem.renameNoReplace(in: dir.raw, tmp, to: target.name) else {
                if errno == EEXIST { throw Changed(path: target) }
                throw SyncError.io(path: absolute(target), operation: "rename", errno: errno)
            }
            return placed(target, in: dir, saved: nil, was: current)
        }
        // With a journal, what is replaced stays under a second name until the batch is recorded
        // (and is kept as a conflict copy then if it was written to after the check: `settle`).
        var saved: String?
        if let journal {
            let name = try temporary(beside: target)
            if linkat(dir.raw, target.name, dir.raw, name, 0) == 0 { saved = name } else { journal.note(.unsaved(target)) }
        }
        guard renameat(dir.raw, tmp, dir.raw, target.name) == 0 else {
            let e = errno
            if let saved { unlinkat(dir.raw, saved, 0) }
            throw SyncError.io(path: absolute(target), operation: "rename", errno: e)
        }
        placed(target, in: dir, saved: saved, was: current)
    }

    /// Notes a file just renamed into place at `target` and makes the rename durable.
    private func placed(_ target: RelativePath, in dir: borrowing Descriptor, saved: String?, was current: FileEntry?) {
        var st = stat()
        fstatat(dir.raw, target.name, &st, AT_SYMLINK_NOFOLLOW)
        journal?.note(.placed(target, inode: UInt64(st.st_ino), saved: saved, was: current))
        syncEntries(of: dir, target.parent)
    }

    /// Makes a rename in `dir` durable: at once, or with a journal once for the whole batch (its
    /// owner syncs `journal.dirtyDirectories` before the batch is recorded; one fsync of a
    /// directory per file was most of the time of a pull of many small files).
    private func syncEntries(of dir: borrowing Descriptor, _ path: RelativePath?) {
        if let journal { journal.dirtyDirectories.insert(path) } else { fsync(dir.raw) }
    }

    /// Writes a file at `path` whose content `fill` writes into a temporary file; it must hash to
    /// `hash`. The mode is the replaced file's (else the umask's), with x bits as `executable` says.
    func placeFile(_ path: RelativePath, hash: String, executable: Bool, replacing current: FileEntry?,
                   fill: (Int32) throws -> Void) throws {
        let dir = try directory(path.parent, create: true)
        let tmp = try temporary(beside: path)
        let opened = openat(dir.raw, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard opened >= 0 else { throw SyncError.io(path: absolute(path), operation: "create temporary", errno: errno) }
        let fd = Descriptor(opened)
        var placed = false
        defer { if !placed { unlinkat(dir.raw, tmp, 0) } }
        try fill(fd.raw)
        let written = try HistoryRepository.hashFile("/proc/self/fd/\(fd.raw)")
        guard written.hex == hash else {
            throw SyncError.corrupt(path: absolute(path), message: "new content hashes to \(written.short), not \(hash.prefix(7))")
        }
        fchmod(fd.raw, mode(dirFD: dir.raw, path, current, executable: executable))
        guard fsync(fd.raw) == 0 else { throw SyncError.io(path: absolute(path), operation: "fsync", errno: errno) }
        try rename(tmp, in: dir, to: path, replacing: current)
        placed = true
    }

    /// Makes `path` a symbolic link to `target`.
    func placeLink(_ path: RelativePath, target: String, replacing current: FileEntry?) throws {
        let dir = try directory(path.parent, create: true)
        let tmp = try temporary(beside: path)
        guard symlinkat(target, dir.raw, tmp) == 0 else { throw SyncError.io(path: absolute(path), operation: "symlink", errno: errno) }
        do { try rename(tmp, in: dir, to: path, replacing: current) } catch { unlinkat(dir.raw, tmp, 0); throw error }
    }

    /// Moves the file or link at `path` aside to `copy` (in the same directory) if it is still
    /// `current`; never over anything at `copy`: a conflict copy is never replaced.
    func moveAside(_ path: RelativePath, to copy: RelativePath, expecting current: FileEntry) throws {
        let dir = try directory(path.parent)
        guard try unchanged(path, current) else { throw Changed(path: path) }
        directories?.forget(path)
        guard FileSystem.renameNoReplace(in: dir.raw, path.name, to: copy.name) else {
            if errno == EEXIST { throw Changed(path: copy) }
            throw SyncError.io(path: absolute(copy), operation: "rename", errno: errno)
        }
        journal?.note(.movedAside(path, to: copy))
        syncEntries(of: dir, path.parent)
    }

    /// Moves the file at `path` (still `current`) to `target`, where nothing is: a rename that a
    /// peer made, done here too. Returns the stat data of the file at `target`; throws `Changed`
    /// when `path` is not as expected or something is at `target`, or when the file turns out to
    /// have changed as it was moved (it is moved back).
    func move(_ path: RelativePath, expecting current: FileEntry, to target: RelativePath) throws -> Observation {
        let from = try directory(path.parent)
        let to = try directory(target.parent, create: true)
        guard try unchanged(path, current) else { throw Changed(path: path) }
        directories?.forget(path)
        guard FileSystem.renameNoReplace(from: from.raw, path.name, to: to.raw, target.name) else {
            if errno == EEXIST { throw Changed(path: target) }
            throw SyncError.io(path: absolute(target), operation: "rename", errno: errno)
        }
        // A write between the check and the rename: the file goes back, and is not taken for the content.
        guard let o = try observe(target), o.kind == .file, o.inode == current.inode, o.size == current.size,
              o.mtimeNs == current.mtimeNs else {
            _ = FileSystem.renameNoReplace(from: to.raw, target.name, to: from.raw, path.name)
            throw Changed(path: path)
        }
        journal?.note(.moved(path, to: target, inode: o.inode))
        syncEntries(of: from, path.parent)
        syncEntries(of: to, target.parent)
        return o
    }

    /// Removes the file or link at `path` if it is still `current`.
    func remove(_ path: RelativePath, expecting current: FileEntry) throws {
        let dir = try directory(path.parent)
        guard try unchanged(path, current) else { throw Changed(path: path) }
        if let journal {
            // Kept under a second name until the batch is recorded: at the top of the folder, so
            // that the directory it was in can go in the same batch (beside it when the top is
            // another file system).
            let top = try directory(nil)
            var saved = try temporary(in: nil)
            if renameat(dir.raw, path.name, top.raw, saved.name) != 0 {
                guard errno == EXDEV else { throw SyncError.io(path: absolute(path), operation: "rename", errno: errno) }
                saved = try temporary(in: path.parent)
                guard renameat(dir.raw, path.name, dir.raw, saved.name) == 0 else {
                    throw SyncError.io(path: absolute(path), operation: "rename", errno: errno)
                }
            }
            journal.note(.removed(path, saved: saved, was: current))
            return
        }
        if unlinkat(dir.raw, path.name, 0) != 0 && errno != ENOENT {
            throw SyncError.io(path: absolute(path), operation: "unlink", errno: errno)
        }
    }

    /// Removes the directory `path` if it is empty; false when it is not.
    func removeDirectory(_ path: RelativePath) throws -> Bool {
        let dir = try directory(path.parent)
        directories?.forget(path)
        guard unlinkat(dir.raw, path.name, AT_REMOVEDIR) == 0 else {
            if errno == ENOENT { return true }
            if errno == ENOTEMPTY || errno == EEXIST { return false }
            throw SyncError.io(path: absolute(path), operation: "rmdir", errno: errno)
        }
        journal?.note(.removedDirectory(path))
        return true
    }

    /// Makes the directory `path` (its parents must be there).
    func makeDirectoryHere(_ path: RelativePath) throws {
        let dir = try directory(path.parent)
        if mkdirat(dir.raw, path.name, 0o777) != 0 {
            if errno == EEXIST { return }
            throw SyncError.io(path: absolute(path), operation: "mkdir", errno: errno)
        }
        journal?.note(.madeDirectory(path))
    }

    /// The mode a new file gets: the replaced file's, else the umask's, with x bits as asked.
    func mode(dirFD dir: Int32, _ path: RelativePath, _ current: FileEntry?, executable: Bool) -> mode_t {
        var mode: mode_t = 0o666 & ~currentUmask
        var cs = stat()
        if let c = current, !c.deleted, c.kind == .file, fstatat(dir, path.name, &cs, AT_SYMLINK_NOFOLLOW) == 0 {
            mode = cs.st_mode & 0o7777 & ~0o111
        }
        if executable { mode |= (mode & 0o444) >> 2 }
        return mode
    }

    func absolute(_ path: RelativePath) -> String { root + "/" + path.rawValue }

    /// `.sync-tmp-<pid>-<random>`: owned by this process, swept once it is gone.
    static func temporaryName() -> String {
        Scanner.temporaryPrefix + "\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// How long a resumable transfer (`.sync-tmp-<content id>`) nobody holds is kept for a pull
    /// that resumes it.
    static let resumableFor = 3600

    /// Whether the temporary file `name` (modified at `mtime`) is left over: its process is gone,
    /// or, for a resumable transfer or a name of no process, it is older than `resumableFor`.
    /// Called under the folder lock, which every pull applying a batch holds: no transfer of this
    /// node's is being written then.
    static func abandoned(_ name: String, mtime: Int, now: Int = time(nil)) -> Bool {
        let rest = name.dropFirst(Scanner.temporaryPrefix.count)
        let parts = rest.split(separator: "-", maxSplits: 1)
        if parts.count == 2, let pid = pid_t(parts[0]), pid > 0 {
            return FileSystem.processGone(pid)
        }
        return now - mtime > resumableFor
    }

    /// Removes the temporary files of `found` that are left over (see `abandoned`); returns them.
    @discardableResult
    func sweep(_ found: [(RelativePath, Int)]) -> [RelativePath] {
        var removed: [RelativePath] = []
        for (path, mtime) in found where Self.abandoned(path.name, mtime: mtime) {
            guard let dir = try? directory(path.parent) else { continue }
            if unlinkat(dir.raw, path.name, 0) == 0 { removed.append(path) }
        }
        return removed
    }
}

/// What a batch did to a folder, so that a batch that cannot be recorded changes nothing: each
/// replaced or removed file is kept under a second name (a hard link, or the file itself) beside
/// it until `settle` drops them; `undo` puts everything back, newest first, and touches nothing a
/// local edit changed meanwhile.
final class Journal {
    enum Step {
        /// New content at the path (with that inode); what it replaced is under `saved`.
        /// `was` is the replaced version as the caller checked it.
        case placed(RelativePath, inode: UInt64, saved: String?, was: FileEntry?)
        /// A replaced file that could not be kept: it cannot come back.
        case unsaved(RelativePath)
        /// A removed file or link, kept as `saved` (at the top of the folder, or beside it).
        case removed(RelativePath, saved: RelativePath, was: FileEntry)
        case removedDirectory(RelativePath)
        case madeDirectory(RelativePath)
        case movedAside(RelativePath, to: RelativePath)
        /// A file moved from the first path to the second (a rename taken from a peer).
        case moved(RelativePath, to: RelativePath, inode: UInt64)
    }
    private(set) var steps: [Step] = []
    /// Directories whose entries changed and are not yet synced (see `FolderWriter.syncEntries`).
    var dirtyDirectories: Set<RelativePath?> = []

    func note(_ step: Step) { steps.append(step) }

    /// The batch is recorded: the kept versions go. A replaced or removed file that a local program
    /// wrote to after the writer checked it (it had it open across the rename) is not dropped: it is
    /// kept as a conflict copy beside its path, named for this node (`node`), which the next scan
    /// records. Returns those copies.
    @discardableResult
    func settle(_ writer: FolderWriter, node: String) -> [RelativePath] {
        var rescued: [RelativePath] = []
        func drop(_ saved: RelativePath, of p: RelativePath, was: FileEntry?) {
            guard let dir = try? writer.directory(saved.parent) else { return }
            if let was, let o = try? writer.observe(saved), o.kind == .file, o.size != was.size || o.mtimeNs != was.mtimeNs,
               let hash = try? HistoryRepository.hashFile(writer.absolute(saved)),
               let to = try? writer.directory(p.parent) {
                let copy = Reconcile.conflictCopy(of: p, mtimeNs: o.mtimeNs, node: node, tag: String(hash.hex.prefix(7)))
                if FileSystem.renameNoReplace(from: dir.raw, saved.name, to: to.raw, copy.name) { rescued.append(copy); return }
            }
            unlinkat(dir.raw, saved.name, 0)
        }
        for step in steps {
            switch step {
            case .placed(let p, _, let saved?, let was):
                guard let s = try? p.parent.map({ try $0.appending(saved) }) ?? RelativePath(saved) else { continue }
                drop(s, of: p, was: was)
            case .removed(let p, let saved, let was):
                drop(saved, of: p, was: was)
            default: continue
            }
        }
        steps = []
        return rescued
    }

    /// Puts the folder back as it was before the batch, as far as nothing changed since; returns
    /// the paths it could not put back.
    @discardableResult
    func undo(_ writer: FolderWriter) -> [RelativePath] {
        var left: [RelativePath] = []
        for step in steps.reversed() {
            switch step {
            case .placed(let p, let inode, let saved, _):
                guard let dir = try? writer.directory(p.parent) else { left.append(p); continue }
                var st = stat()
                let ours = fstatat(dir.raw, p.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && UInt64(st.st_ino) == inode
                if let saved {
                    if ours { renameat(dir.raw, saved, dir.raw, p.name) } else { left.append(p); unlinkat(dir.raw, saved, 0) }
                } else if ours {
                    unlinkat(dir.raw, p.name, 0)
                }
            case .unsaved(let p):
                left.append(p)
            case .removed(let p, let saved, _):
                guard let from = try? writer.directory(saved.parent) else { left.append(p); continue }
                guard let dir = try? writer.directory(p.parent) else { left.append(p); unlinkat(from.raw, saved.name, 0); continue }
                if !FileSystem.renameNoReplace(from: from.raw, saved.name, to: dir.raw, p.name) { left.append(p); unlinkat(from.raw, saved.name, 0) }
            case .removedDirectory(let p):
                guard let dir = try? writer.directory(p.parent) else { left.append(p); continue }
                mkdirat(dir.raw, p.name, 0o755)
            case .madeDirectory(let p):
                guard let dir = try? writer.directory(p.parent) else { continue }
                unlinkat(dir.raw, p.name, AT_REMOVEDIR) // only when empty: what came since stays
            case .movedAside(let p, let copy):
                guard let dir = try? writer.directory(p.parent) else { left.append(p); continue }
                if !FileSystem.renameNoReplace(in: dir.raw, copy.name, to: p.name) { left.append(p) }
            case .moved(let p, let target, let inode):
                guard let from = try? writer.directory(p.parent), let to = try? writer.directory(target.parent),
                      let o = try? writer.observe(target), o.inode == inode,
                      FileSystem.renameNoReplace(from: to.raw, target.name, to: from.raw, p.name) else { left.append(p); continue }
            }
        }
        steps = []
        return left
    }
}
