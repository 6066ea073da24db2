import Foundation
import SyncCore
import SyncGit

/// Records what changed in a folder: stat to find candidates, hash only those, one index transaction,
/// one history commit.
public struct Committer {
    public let context: FolderContext
    public var progress: ((CommitProgress) -> Void)?
    /// Called after blobs are stored and before the index is written; tests use it to stop mid-commit.
    var beforeRecord: (() -> Void)?
    /// Called after each file is hashed and before it is checked again (a test hook).
    var afterHash: ((RelativePath) -> Void)?

    public init(_ context: FolderContext) { self.context = context }

    /// Commits the whole folder (`paths` nil) or only the named paths and what lies below them.
    /// Returns nil when nothing changed.
    public func commit(paths: [RelativePath]? = nil) throws -> CommitResult? {
        let folder = context.folder
        let lock = try context.lockForWriting()
        defer { _ = lock }
        guard folder.state != .missing else { throw SyncError.noSuchPath(folder.root) }
        try history { try context.history.reopenIfRewritten() }
        let node = try context.state.identity().id
        let scanner = context.scanner()
        let scanStart = Int64(Date().timeIntervalSince1970 * 1e9)

        let plan = try self.plan(paths: paths, scanner: scanner)
        let (observed, known, candidates, deletions) = (plan.observed, plan.known, plan.candidates, plan.deletions)
        // A full scan, under the folder lock: what dead processes and abandoned transfers left goes.
        FolderWriter(root: folder.root).sweep(plan.temporaries)
        var problems = plan.problems

        let maxBlob = folder.config.maxBlob
        var progressState = CommitProgress(filesHashed: 0, filesToHash: candidates.count(where: { $0.kind == .file }),
                                           bytesHashed: 0, bytesToHash: candidates.reduce(0) { $0 + ($1.kind == .file ? $1.size : 0) })
        var changes: [(FileEntry, Change.Status, HistoryRepository.Update?)] = []
        var refreshed: [FileEntry] = []
        var retry: [RelativePath] = []
        // Small blobs go into one pack, written before the tree that names them.
        let pack = PackWriter(context.history)
        // A file moved within the folder keeps its inode, size and modification time: its content
        // is the vanished row's, known without reading it (a renamed 100 GB file costs no hashing).
        var vanished: [UInt64: FileEntry] = [:]
        for d in deletions where d.kind == .file && !d.deleted && d.hash != nil && d.inode != 0 { vanished[d.inode] = d }
        for o in candidates {
            let prior = known[o.path]
            var entry = FileEntry(path: o.path, kind: o.kind, size: o.size, mtimeNs: o.mtimeNs,
                                  ctimeNs: o.mtimeNs >= scanStart - 2_000_000_000 ? 0 : o.ctimeNs,
                                  inode: o.inode, executable: o.executable)
            var update: HistoryRepository.Update?
            switch o.kind {
            case .directory:
                break
            case .symlink:
                guard let target = readLink(context.absolute(o.path)) else { retry.append(o.path); continue }
                entry.symlinkTarget = target
                let id = try history { try pack.add(Array(target.utf8)) }
                entry.hash = id.hex
                update = .upsert(path: o.path.rawValue, id: id, mode: .symlink)
            case .file:
                let abs = context.absolute(o.path)
                let id: ObjectID
                var stored: ObjectID
                var reused = false
                let fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                if fd < 0 {
                    let e = errno
                    if e == ENOENT { continue } // vanished: the next round records the deletion
                    problems.append(ScanProblem(path: o.path.rawValue, reason: String(cString: strerror(e)) + "; skipped"))
                    continue
                }
                let opened = Descriptor(fd)
                do {
                    if let d = vanished[o.inode], d.size == o.size, d.mtimeNs == o.mtimeNs, let known = try? ObjectID(hex: d.hash!),
                       o.size > maxBlob || context.history.contains(known) {
                        id = known
                        stored = id
                        reused = true
                    } else if o.size <= maxBlob, o.size < PackWriter.largestBlob,
                              let bytes = try? readAll(opened.raw, limit: Int(o.size)), bytes.count == o.size {
                        id = try pack.add(bytes)
                        stored = id
                    } else if o.size <= maxBlob {
                        id = try context.history.writeBlob(fromFile: abs)
                        stored = id
                    } else {
                        id = try HistoryRepository.hashFile(abs)
                        stored = id
                    }
                } catch let e as GitError {
                    if (try? scanner.observe(o.path)) == nil { continue }
                    retry.append(o.path)
                    problems.append(ScanProblem(path: o.path.rawValue, reason: "could not be read (\(e.message)); will retry"))
                    continue
                }
                if !reused { afterHash?(o.path) }
                // A file that changed while it was hashed is left for the next round.
                guard let after = try scanner.observe(o.path), after.size == o.size, after.mtimeNs == o.mtimeNs,
                      after.ctimeNs == o.ctimeNs, after.inode == o.inode else {
                    retry.append(o.path)
                    continue
                }
                if o.size > maxBlob {
                    stored = try history { try pack.add(LargeFilePointer(id: id.hex, size: o.size).bytes) }
                }
                entry.hash = id.hex
                progressState.filesHashed += 1
                progressState.bytesHashed += o.size
                progress?(progressState)
                update = .upsert(path: o.path.rawValue, id: stored, mode: o.executable ? .executable : .file)
            }
            if let prior, !prior.deleted, prior.sameContent(as: entry) {
                refreshed.append(entry)
                continue
            }
            entry.version = (prior?.version ?? VersionVector()).bumped(by: node)
            var status: Change.Status = (prior == nil || prior!.deleted) ? .added : .modified
            if let prior, !prior.deleted, prior.kind != entry.kind {
                // A file or link replaced by a directory is, to people, a deletion (and the
                // directory's contents additions); a directory replaced by a file, an addition.
                status = entry.kind == .directory ? .deleted : .added
            }
            changes.append((entry, status, update))
        }
        for var e in deletions.sorted(by: { $0.path < $1.path }) {
            let path = e.path
            e.deleted = true
            e.hash = nil
            e.symlinkTarget = nil
            e.size = 0
            e.mtimeNs = scanStart // a deletion record's time is when it was recorded: tombstones expire by it
            e.version = e.version.bumped(by: node)
            changes.append((e, .deleted, .remove(path: path.rawValue)))
        }
        if changes.isEmpty {
            if !refreshed.isEmpty { try context.index.record(changes: [], refreshed: refreshed, commit: nil) }
            return retry.isEmpty && problems.isEmpty ? nil
                : CommitResult(folder: folder.id, sequence: try context.index.sequence(), commit: nil,
                               changes: [], retry: retry, problems: problems)
        }

        // 3. The tree of the new snapshot, from the last commit's tree.
        try history { try pack.flush() }
        let recorder = HistoryRecorder(context: context)
        let updates = changes.compactMap(\.2)
        var liveDirectories = Set(changes.filter { $0.0.kind == .directory && !$0.0.deleted }.map(\.0.path))
        for (e, _, _) in changes where e.deleted {
            if let parent = e.path.parent, try (observed[parent] ?? scanner.observe(parent))?.kind == .directory {
                liveDirectories.insert(parent)
            }
        }
        let snapshot = try recorder.snapshot(applying: updates, live: liveDirectories)

        // Directories are index entries (they carry versions to peers), but people see them only
        // where they are empty: as an empty tree added, or an empty tree removed.
        let added = Set(snapshot.emptyDirectories.compactMap { u -> String? in
            if case .upsert(let p, _, _) = u { return p }
            return nil
        })
        var shown: [Change] = []
        for (e, status, _) in changes {
            if e.kind == .directory {
                if !e.deleted, status == .deleted {
                    shown.append(Change(status: .deleted, path: e.path.rawValue))
                    if added.contains(e.path.rawValue) { shown.append(Change(status: .added, path: e.path.rawValue)) }
                    continue
                }
                if e.deleted {
                    guard let base = snapshot.base, try recorder.isEmptyDirectory(e.path, in: base) else { continue }
                } else if !added.contains(e.path.rawValue) {
                    continue
                }
            }
            shown.append(Change(status: status, path: e.path.rawValue))
        }
        // A file deleted and a file added with the same content: a rename (or a move), shown as one.
        let removed = Dictionary(deletions.compactMap { d in d.kind == .file ? d.hash.map { (d.path.rawValue, $0) } : nil },
                                 uniquingKeysWith: { a, _ in a })
        let brought = Dictionary(changes.compactMap { e, status, _ in status == .added && e.kind == .file ? e.hash.map { (e.path.rawValue, $0) } : nil },
                                 uniquingKeysWith: { a, _ in a })
        shown = Change.foldingRenames(shown) { $0.status == .deleted ? removed[$0.path] : brought[$0.path] }

        // 4. The commit, then the index: a crash between them is repaired by the next scan.
        let sequence = try context.index.sequence() + Int64(changes.count)
        var commitID = snapshot.head
        if snapshot.head == nil || snapshot.changed {
            commitID = try recorder.commit(snapshot, changes: shown, sequence: sequence)
        }
        // 5. The mass-deletion guard: a change that deletes too much of the folder stays here (and
        // so does everything after it) until `sync confirm`.
        var held: (deleted: Int, of: Int)?
        let deletedFiles = changes.count(where: { $0.0.deleted && $0.0.kind != .directory })
        if deletedFiles >= folder.config.guardMinimum, let share = folder.config.guardShare, try context.index.heldFrom() == nil {
            let before = try context.index.totals().files
            if Double(deletedFiles) > share * Double(before) { held = (deletedFiles, before) }
        }
        beforeRecord?()
        let first = try context.index.sequence() + 1
        try context.index.record(changes: changes.map(\.0), refreshed: refreshed, commit: commitID?.hex,
                                 meta: held == nil ? [] : [("hold.from", String(first))])
        // A held deletion undone (by sync restore, or by putting the files back by hand) holds
        // nothing any more: what peers get then is only that the files came back.
        if held == nil, let from = try context.index.heldFrom(), try context.index.filesStillDeleted(since: from) == 0 {
            _ = try context.index.release()
        }
        var result = CommitResult(folder: folder.id, sequence: sequence, commit: commitID, changes: shown,
                                  retry: retry, problems: problems)
        result.held = held
        return result
    }

    /// What a commit would look at: the scope's observations, the paths whose stat data differ
    /// from the index (to be hashed), the rows whose path is gone, and the full index rows of both.
    struct Plan {
        var observed: [RelativePath: Observation] = [:]
        /// Full index rows of the candidates and deletions (only those: a full row costs far more
        /// to read than its stat data, and most paths of a rescan are unchanged).
        var known: [RelativePath: FileEntry] = [:]
        var candidates: [Observation] = []
        var deletions: [FileEntry] = []
        var problems: [ScanProblem] = []
        /// Our temporary files a full scan passed, with their modification times.
        var temporaries: [(RelativePath, Int)] = []
    }

    func plan(paths: [RelativePath]?, scanner: Scanner) throws -> Plan {
        var temporaries: [(RelativePath, Int)] = []
        var observed: [RelativePath: Observation] = [:]
        var known: [RelativePath: FileEntry] = [:]
        var stats: [RelativePath: IndexStat] = [:]
        var problems: [ScanProblem] = []
        if let paths {
            // A path whose directory is gone widens to the outermost missing directory,
            // so that every row below it is in scope and deleted with it.
            let scopes = try Self.outermost(paths.map { p in
                for a in p.ancestors where try scanner.observe(a)?.kind != .directory { return a }
                return p
            })
            for p in scopes {
                let o = try scanner.observe(p)
                if scanner.skips(p, isDirectory: o?.kind == .directory) { continue }
                for a in p.ancestors {
                    if let ao = try scanner.observe(a) { observed[a] = ao }
                    if let e = try context.index.entry(a) { known[a] = e }
                }
                if let o {
                    observed[p] = o
                    if o.kind == .directory { problems += try scanner.walk(from: p) { observed[$0.path] = $0 } }
                }
                for e in try context.index.entries(under: p) { known[e.path] = e }
            }
            stats = known.mapValues(IndexStat.init)
        }

        var candidates: [Observation] = []
        var deleted: [RelativePath] = []
        func unchanged(_ o: Observation, _ e: IndexStat?) -> Bool {
            guard let e else { return false }
            return o.matchesStat(of: e) || (!e.deleted && e.kind == .directory && o.kind == .directory)
        }
        if paths == nil {
            // The whole folder: the index's stat rows are read on the second core while this one
            // walks; each path seen is then checked off them (no second hash table of every
            // path), and what is left was not seen.
            let loading = Background { [index = context.index] in try index.stats() }
            var seen: [Observation] = []
            problems += scanner.walkAll(temporary: { temporaries.append(($0, $1)) }) { seen.append($0) }
            stats = try loading.value()
            for o in seen where !unchanged(o, stats.removeValue(forKey: o.path)) { candidates.append(o) }
            for (p, e) in stats where !e.deleted {
                if scanner.skips(p, isDirectory: e.kind == .directory) { continue }
                deleted.append(p)
            }
            for o in candidates { observed[o.path] = o }
        } else {
            for (p, o) in observed where !unchanged(o, stats[p]) { candidates.append(o) }
            for (p, e) in stats where !e.deleted && observed[p] == nil {
                if scanner.skips(p, isDirectory: e.kind == .directory) { continue }
                deleted.append(p)
            }
        }
        candidates.sort { $0.path < $1.path }

        if paths == nil {
            // Rows to read in full: every candidate that may have one, and the deletions.
            let wanted = candidates.map(\.path) + deleted
            if wanted.count > 2000 {
                let all = try context.index.allEntries()
                let set = Set(wanted)
                for e in all where set.contains(e.path) { known[e.path] = e }
            } else {
                for p in wanted { known[p] = try context.index.entry(p) }
            }
        }
        let deletions = deleted.compactMap { known[$0] }
        return Plan(observed: observed, known: known, candidates: candidates, deletions: deletions, problems: problems,
                    temporaries: temporaries)
    }

    /// Paths whose stat data differ from the index, and index rows whose path is gone: what a
    /// commit would look at now. Reads the contents only of files recorded as "racily clean"
    /// (written within two seconds of the scan that recorded them), to tell whether they changed.
    /// `reading` false reads no file: a row recorded within two seconds of its mtime whose stat
    /// data still match counts as unchanged (sync status, which runs again and again).
    public func pending(reading: Bool = true) throws -> [RelativePath] {
        let p = try plan(paths: nil, scanner: context.scanner())
        // Rows recorded within two seconds of their mtime keep no ctime (so a change in that second
        // is not missed): for those, the content (a file) or the target (a link) decides.
        let changed = p.candidates.filter { o in
            guard o.kind == .file || o.kind == .symlink, let e = p.known[o.path], !e.deleted, e.kind == o.kind, e.ctimeNs == 0,
                  e.size == o.size, e.mtimeNs == o.mtimeNs, e.inode == o.inode, e.executable == o.executable
            else { return true }
            guard reading else { return false }
            if o.kind == .symlink { return readLink(context.absolute(o.path)) != e.symlinkTarget }
            return (try? HistoryRepository.hashFile(context.absolute(o.path)).hex) != e.hash
        }
        return (changed.map(\.path) + p.deletions.map(\.path)).sorted()
    }

    /// Drops every path that lies below another one in the list.
    static func outermost(_ paths: [RelativePath]) -> [RelativePath] {
        // Sorted, an ancestor comes before what lies below it: one set lookup per ancestor.
        var kept: Set<RelativePath> = [], out: [RelativePath] = []
        for p in Set(paths).sorted() where !p.ancestors.contains(where: kept.contains) {
            kept.insert(p)
            out.append(p)
        }
        return out
    }

    private func history<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as GitError {
            throw SyncError.history(path: context.folder.historyPath, message: e.description)
        }
    }
}
