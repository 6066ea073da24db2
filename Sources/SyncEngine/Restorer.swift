import Foundation
import SyncCore
import SyncGit

/// Brings an old version back into the folder as a new change: the current version is committed
/// first, so nothing is destroyed, and every file is written through a verified temporary file.
public struct Restorer {
    public let context: FolderContext

    public init(_ context: FolderContext) { self.context = context }

    /// Restores `path` (a file, link or directory) as it was in `commit`, then commits the result.
    public func restore(_ path: RelativePath, at commit: ObjectID) throws -> CommitResult? {
        let committer = Committer(context)
        _ = try committer.commit(paths: [path])
        let queries = HistoryQueries(context)
        guard let target = try queries.entry(commit, path: path) else {
            throw SyncError.notFound("\(path): in commit \(commit.short)")
        }
        if target.mode == .directory {
            var files: [(RelativePath, ObjectID, HistoryRepository.Mode?)] = []
            try queries.wrap { try context.history.walk(tree: target.id) { p, id, mode in
                files.append((try RelativePath(path.rawValue + "/" + p), id, mode))
            } }
            try makeDirectory(path)
            for (p, id, mode) in files { try restoreOne(p, id: id, mode: mode) }
        } else {
            try restoreOne(path, id: target.id, mode: target.mode)
        }
        return try committer.commit(paths: [path])
    }

    private func restoreOne(_ path: RelativePath, id: ObjectID, mode: HistoryRepository.Mode?) throws {
        if mode == .directory { try makeDirectory(path); return }
        if let parent = path.parent { try makeDirectory(parent) }
        let dest = context.absolute(path)
        let recorded = try context.index.entry(path)
        let current = try context.scanner().observe(path)
        if current?.kind == .directory { throw SyncError.invalidArgument("\(dest): is a directory now; move it away first") }
        if let recorded, !recorded.deleted, recorded.hash == id.hex,
           recorded.executable == (mode == .executable), current != nil { return }

        let tmp = (dest as NSString).deletingLastPathComponent + "/" + Scanner.temporaryPrefix
            + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        var done = false
        defer { if !done { unlink(tmp) } }
        if mode == .symlink {
            let target = String(decoding: try queries { try context.history.blob(id) }, as: UTF8.self)
            guard symlink(target, tmp) == 0 else { throw SyncError.io(path: tmp, operation: "symlink", errno: errno) }
        } else {
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode == .executable ? 0o755 : 0o644)
            guard fd >= 0 else { throw SyncError.io(path: tmp, operation: "create", errno: errno) }
            do {
                try HistoryQueries(context).write(blob: id, path: path, to: fd)
                fchmod(fd, mode == .executable ? 0o755 : 0o644)
                guard fsync(fd) == 0 else { throw SyncError.io(path: tmp, operation: "fsync", errno: errno) }
                close(fd)
            } catch { close(fd); throw error }
            let written = try queries { try HistoryRepository.hashFile(tmp) }
            guard written == id else {
                throw SyncError.corrupt(path: tmp, message: "restored content hashes to \(written.short), not \(id.short)")
            }
        }
        // Never replace a file that changed since it was committed a moment ago.
        let now = try context.scanner().observe(path)
        if let now, let recorded, !recorded.deleted {
            guard now.size == recorded.size, now.mtimeNs == recorded.mtimeNs, now.inode == recorded.inode else {
                throw SyncError.invalidArgument("\(dest): changed during the restore; nothing replaced")
            }
        } else if now != nil {
            throw SyncError.invalidArgument("\(dest): appeared during the restore; nothing replaced")
        }
        guard rename(tmp, dest) == 0 else { throw SyncError.io(path: dest, operation: "rename", errno: errno) }
        done = true
        FileSystem.syncDirectory((dest as NSString).deletingLastPathComponent)
    }

    /// Creates the directory and its parents inside the folder, refusing to pass through a symlink.
    private func makeDirectory(_ path: RelativePath) throws {
        for p in path.ancestors + [path] {
            let abs = context.absolute(p)
            var st = stat()
            if lstat(abs, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR { continue }
                throw SyncError.invalidArgument("\(abs): not a directory; nothing restored below it")
            }
            guard mkdir(abs, 0o755) == 0 || errno == EEXIST else { throw SyncError.io(path: abs, operation: "mkdir", errno: errno) }
        }
    }

    private func queries<T>(_ body: () throws -> T) throws -> T { try HistoryQueries(context).wrap(body) }
}
