import Foundation
import SyncCore
import SyncGit

/// Brings an old version back into the folder as a new change: the current version is committed
/// first, so nothing is destroyed, and every file is written through a verified temporary file.
public struct Restorer {
    public let context: FolderContext

    public init(_ context: FolderContext) { self.context = context }

    /// Restores `path` (a file, link or directory; nil: the whole folder) as it was in `commit`, then
    /// commits the result. A directory is made exactly as it was: what was made in it since goes too
    /// (it stays in history, committed first), unless `keepNew`.
    public func restore(_ path: RelativePath?, at commit: ObjectID, keepNew: Bool = false) throws -> CommitResult? {
        let committer = Committer(context)
        _ = try committer.commit(paths: path.map { [$0] })
        let queries = HistoryQueries(context)
        let target: (id: ObjectID, mode: HistoryRepository.Mode?)
        if let path {
            guard let t = try queries.entry(commit, path: path) else {
                throw SyncError.notFound("\(path): in commit \(commit.short)")
            }
            target = t
        } else {
            target = (try queries.tree(of: commit), .directory)
        }
        if target.mode == .directory {
            var files: [(RelativePath, ObjectID, HistoryRepository.Mode?)] = []
            try queries.wrap { try context.history.walk(tree: target.id) { p, id, mode in
                files.append((try RelativePath(path.map { $0.rawValue + "/" + p } ?? p), id, mode))
            } }
            // All or nothing: every version must be at hand before the first file is written.
            let missing = try files.filter { p, id, mode in
                try (mode == .file || mode == .executable) && !inPlace(p, id: id, mode: mode) && !available(id)
            }.map(\.0)
            if !missing.isEmpty {
                let named = missing.prefix(5).map { context.absolute($0) }.joined(separator: ", ")
                throw SyncError.notFound("\(named)\(missing.count > 5 ? " and \(missing.count - 5) more" : ""): large files whose old content is kept neither in the version store nor in the folder (nothing restored); their content")
            }
            if let path { try makeDirectory(path) }
            for (p, id, mode) in files { try restoreOne(p, id: id, mode: mode) }
            if !keepNew { try removeNewer(under: path, keeping: Set(files.map(\.0))) }
        } else if let path {
            try restoreOne(path, id: target.id, mode: target.mode)
        }
        return try committer.commit(paths: path.map { [$0] })
    }

    /// Removes what the index holds under `path` (nil: everywhere) that is not in `kept` nor above
    /// it: files and links only if unchanged since they were committed a moment ago, then the
    /// directories left empty, deepest first. Ignored files are not in the index and stay.
    private func removeNewer(under path: RelativePath?, keeping kept: Set<RelativePath>) throws {
        let keptOrAbove = kept.union(kept.flatMap(\.ancestors))
        let rows = try (path.map { try context.index.entries(under: $0) } ?? context.index.allEntries())
            .filter { !$0.deleted && !keptOrAbove.contains($0.path) && $0.path != path }
        for e in rows where e.kind != .directory {
            guard try writer.observe(e.path) != nil else { continue }
            do { try writer.remove(e.path, expecting: e) } catch is FolderWriter.Changed {
                throw SyncError.refused("\(context.absolute(e.path)): changed during the restore; left in place")
            }
        }
        for e in rows.filter({ $0.kind == .directory }).sorted(by: { $0.path > $1.path }) {
            rmdir(context.absolute(e.path)) // only when empty: ignored files keep their directory
        }
    }

    private func restoreOne(_ path: RelativePath, id: ObjectID, mode: HistoryRepository.Mode?) throws {
        if mode == .directory { try makeDirectory(path); return }
        if let parent = path.parent { try makeDirectory(parent) }
        let dest = context.absolute(path)
        let recorded = try context.index.entry(path)
        // Never replace what changed since it was committed a moment ago.
        do {
            if try writer.observe(path)?.kind == .directory { throw SyncError.refused("\(dest): is a directory now; move it away first") }
            if try inPlace(path, id: id, mode: mode) { return }
            if mode == .symlink {
                let target = String(decoding: try queries { try context.history.blob(id) }, as: UTF8.self)
                try writer.placeLink(path, target: target, replacing: recorded)
            } else {
                let content = try queries { try HistoryQueries(context).contentID(of: id) }
                try writer.placeFile(path, hash: content, executable: mode == .executable, replacing: recorded) { fd in
                    try HistoryQueries(context).write(blob: id, path: path, to: fd)
                }
            }
        } catch is FolderWriter.Changed {
            throw SyncError.refused("\(dest): changed during the restore; nothing replaced")
        } catch is FolderWriter.Blocked {
            throw SyncError.refused("\(dest): a directory on the way is a link or not a directory; nothing restored there")
        }
    }

    /// Whether `path` holds that version now, as the index recorded it a moment ago: nothing to write.
    private func inPlace(_ path: RelativePath, id: ObjectID, mode: HistoryRepository.Mode?) throws -> Bool {
        guard mode != .directory, let recorded = try context.index.entry(path), !recorded.deleted,
              recorded.executable == (mode == .executable), try writer.observe(path) != nil else { return false }
        if mode == .symlink { return recorded.kind == .symlink && recorded.hash == id.hex }
        return try recorded.kind == .file && recorded.hash == queries { try HistoryQueries(context).contentID(of: id) }
    }

    /// Whether the content of version `id` can be written: history holds it, or for a large file
    /// the version store or the folder does.
    private func available(_ id: ObjectID) throws -> Bool {
        let q = HistoryQueries(context)
        guard let ptr = try q.largePointer(id) else { return true }
        return try q.source(of: ptr) != nil
    }

    /// Creates the directory and its parents inside the folder, refusing to pass through a symlink.
    private func makeDirectory(_ path: RelativePath) throws {
        do { try writer.makeDirectory(path) } catch is FolderWriter.Blocked {
            throw SyncError.refused("\(context.absolute(path)): not a directory; nothing restored below it")
        }
    }

    private var writer: FolderWriter { FolderWriter(root: context.folder.root) }

    private func queries<T>(_ body: () throws -> T) throws -> T { try HistoryQueries(context).wrap(body) }
}
