import Foundation
import SyncCore
import SyncGit

/// Records what changed in a folder: stat to find candidates, hash only those, one index transaction,
/// one history commit.
public struct Committer {
    public let context: FolderContext
    public var progress: ((CommitProgress) -> Void)?
    /// Called after blobs are stored and before the index is written; tests use it to stop mid-commit.
    var beforeRecord: (() throws -> Void)?
    /// Called after each file is hashed and before it is checked again (a test hook).
    var afterHash: ((RelativePath) -> Void)?

    public init(_ context: FolderContext) { self.context = context }

    /// Changes recorded in one commit at most. A scan that finds more records them in several
    /// commits of this many (one more where a rename would be split), in path order (edits, each
    /// moved file with the deletion of the path it left; then the other deletions), each a whole
    /// snapshot of the folder as far as it went: a commit's memory grows with its part, not with
    /// the folder (the first commit of a million files).
    var partSize = 50_000
    /// Changes kept for the report (every one is counted, and kept in history).
    var shownLimit = CommitResult.shownLimit
    /// Index rows read at a time by a full scan.
    var pageSize = IndexPages.pageSize

    /// Commits the whole folder (`paths` nil) or only the named paths and what lies below them.
    /// Returns nil when nothing changed.
    public func commit(paths: [RelativePath]? = nil) throws -> CommitResult? {
        let folder = context.folder
        let lock = try context.lockForWriting()
        defer { _ = lock }
        guard folder.state != .missing else { throw SyncError.noSuchPath(folder.root) }
        try history { try context.reopenHistoryIfRewritten() }
        let scanner = context.scanner()
        let scanStart = Int64(Date().timeIntervalSince1970 * 1e9)

        let plan = try self.plan(paths: paths, scanner: scanner)
        // A full scan, under the folder lock: what dead processes and abandoned transfers left goes.
        FolderWriter(root: folder.root).sweep(plan.temporaries)
        var work = Work(node: try context.state.identity().id, scanner: scanner, scanStart: scanStart,
                        observed: plan.observed, problems: plan.problems)
        work.progress = CommitProgress(filesHashed: 0, filesToHash: plan.candidates.count(where: { $0.kind == .file }), bytesHashed: 0,
                                       bytesToHash: plan.candidates.reduce(0) { $0 + ($1.kind == .file ? $1.size : 0) })
        // A file moved within the folder keeps its inode, size and modification time: its content
        // is the vanished row's, known without reading it (a renamed 100 GB file costs no hashing).
        for start in stride(from: 0, to: plan.deleted.count, by: 5_000) {
            for d in try context.index.entries(Array(plan.deleted[start..<min(start + 5_000, plan.deleted.count)])).values
            where d.kind == .file && !d.deleted && d.inode != 0 {
                if let hash = d.hash, let id = try? ObjectID(hex: hash) { work.vanished[d.inode] = (d.path, d.size, d.mtimeNs, id) }
            }
        }
        // The mass-deletion guard, decided on the whole change: a change that deletes too much of
        // the folder stays here (and so does everything after it) until `sync confirm`.
        var held: (deleted: Int, of: Int)?
        if plan.deletedFiles >= folder.config.guardMinimum, let share = folder.config.guardShare, try context.index.heldFrom() == nil {
            let before = try context.index.totals().files
            if Double(plan.deletedFiles) > share * Double(before) { held = (plan.deletedFiles, before) }
        }

        // The order of the parts: edits in path order, each moved file followed by the deletion of
        // the path it left (so that no part splits a rename), then the other deletions. An edit is
        // `i`, a deletion `-1 - i`.
        var order: [Int] = []
        order.reserveCapacity(plan.candidates.count + plan.deleted.count)
        var paired = Array(repeating: false, count: plan.deleted.count)
        let deletedAt = work.vanished.isEmpty ? [:] : Dictionary(plan.deleted.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, o) in plan.candidates.enumerated() {
            order.append(i)
            if o.kind == .file, let v = work.vanished[o.inode], v.size == o.size, v.mtimeNs == o.mtimeNs,
               let d = deletedAt[v.path], !paired[d] {
                paired[d] = true
                order.append(-1 - d)
            }
        }
        for d in plan.deleted.indices where !paired[d] { order.append(-1 - d) }

        var recorded = false, holding = held != nil
        var commitID: ObjectID?
        var sequence: Int64 = 0
        var shown: [Change] = [], shownCount = 0
        var start = 0
        while start < order.count {
            var end = min(start + max(1, partSize), order.count)
            if end < order.count, order[end] < 0, paired[-1 - order[end]] { end += 1 } // a rename stays whole
            let part = order[start..<end]
            start = end
            let edits = part.filter { $0 >= 0 }.map { plan.candidates[$0] }
            let deletions = part.filter { $0 < 0 }.map { plan.deleted[-1 - $0] }
            // The hold starts with the first part that deletes.
            let holds = holding && !deletions.isEmpty
            if holds { holding = false }
            guard let done = try record(edits, deletions, holding: holds, &work) else { continue }
            recorded = true
            commitID = done.commit
            sequence = done.sequence
            if shown.count < shownLimit { shown += done.shown.prefix(shownLimit - shown.count) }
            shownCount += done.shown.count
        }
        guard recorded else {
            return work.retry.isEmpty && work.problems.isEmpty ? nil
                : CommitResult(folder: folder.id, sequence: try context.index.sequence(), commit: nil,
                               changes: [], retry: work.retry, problems: work.problems)
        }
        // A held deletion undone (by sync restore, or by putting the files back by hand) holds
        // nothing any more: what peers get then is only that the files came back.
        if held == nil, let from = try context.index.heldFrom(), try context.index.filesStillDeleted(since: from) == 0 {
            _ = try context.index.release()
        }
        var result = CommitResult(folder: folder.id, sequence: sequence, commit: commitID, changes: shown,
                                  changeCount: shownCount, retry: work.retry, problems: work.problems)
        result.held = held
        return result
    }

    /// What the parts of one commit share: the scan's facts, and what they found to report.
    struct Work {
        let node: NodeID
        let scanner: Scanner
        let scanStart: Int64
        let observed: [RelativePath: Observation]
        var problems: [ScanProblem]
        var retry: [RelativePath] = []
        /// Deleted files by inode: where they were, and what they held.
        var vanished: [UInt64: (path: RelativePath, size: Int64, mtimeNs: Int64, id: ObjectID)] = [:]
        var progress = CommitProgress(filesHashed: 0, filesToHash: 0, bytesHashed: 0, bytesToHash: 0)
    }

    /// One part recorded: its last sequence, its commit (the head when history did not change),
    /// and the changes people are shown.
    struct Part {
        let sequence: Int64
        let commit: ObjectID?
        let shown: [Change]
    }

    /// Hashes, stores, commits and records one part of a commit: `edits` (observations whose stat
    /// data differ from the index) and `deletions` (rows whose path is gone). Nil when nothing in
    /// it changed (rows whose stat data alone changed are refreshed).
    private func record(_ edits: [Observation], _ deletions: [RelativePath], holding: Bool,
                        _ work: inout Work) throws -> Part? {
        let node = work.node, scanner = work.scanner, scanStart = work.scanStart
        let known = try context.index.entries(edits.map(\.path) + deletions)
        let maxBlob = context.folder.config.maxBlob
        var changes: [(FileEntry, Change.Status, HistoryRepository.Update?)] = []
        var refreshed: [FileEntry] = []
        // Small blobs go into one pack, written before the tree that names them.
        let pack = PackWriter(try context.history)
        // The chunk manifests of files above max-blob, made as they are hashed.
        var manifests: [String: [UInt8]] = [:]
        for o in edits {
            let prior = known[o.path]
            var entry = FileEntry(path: o.path, kind: o.kind, size: o.size, mtimeNs: o.mtimeNs,
                                  ctimeNs: o.mtimeNs >= scanStart - 2_000_000_000 ? 0 : o.ctimeNs,
                                  inode: o.inode, executable: o.executable)
            var update: HistoryRepository.Update?
            switch o.kind {
            case .directory:
                break
            case .symlink:
                guard let target = readLink(context.absolute(o.path)) else { work.retry.append(o.path); continue }
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
                    work.problems.append(ScanProblem(path: o.path.rawValue, reason: String(cString: strerror(e)) + "; skipped"))
                    continue
                }
                let opened = Descriptor(fd)
                do {
                    if let d = work.vanished[o.inode], d.size == o.size, d.mtimeNs == o.mtimeNs,
                       try o.size > maxBlob || context.history.contains(d.id) {
                        id = d.id
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
                        // Its chunk manifest made on a thread of its own, beside the hash.
                        let builder = ManifestBuilder(size: o.size)
                        let beside = Sideline(name: "sync.chunks", builder.feed)
                        id = try HistoryRepository.hashFile(abs) { beside.update($0) }
                        beside.finish()
                        stored = id
                        if let m = builder.finish() { manifests[id.hex] = m.encoded }
                    }
                } catch let e as GitError {
                    if (try? scanner.observe(o.path)) == nil { continue }
                    work.retry.append(o.path)
                    work.problems.append(ScanProblem(path: o.path.rawValue, reason: "could not be read (\(e.message)); will retry"))
                    continue
                }
                if !reused { afterHash?(o.path) }
                // A file that changed while it was hashed is left for the next round.
                guard let after = try scanner.observe(o.path), after.size == o.size, after.mtimeNs == o.mtimeNs,
                      after.ctimeNs == o.ctimeNs, after.inode == o.inode else {
                    work.retry.append(o.path)
                    continue
                }
                if o.size > maxBlob {
                    stored = try history { try pack.add(LargeFilePointer(id: id.hex, size: o.size).bytes) }
                }
                entry.hash = id.hex
                work.progress.filesHashed += 1
                work.progress.bytesHashed += o.size
                progress?(work.progress)
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
        let gone = deletions.compactMap { known[$0] }
        for var e in gone {
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
            return nil
        }

        // The tree of the new snapshot, from the last commit's tree.
        try history { try pack.flush() }
        let recorder = HistoryRecorder(context: context)
        let updates = changes.compactMap(\.2)
        var liveDirectories = Set(changes.filter { $0.0.kind == .directory && !$0.0.deleted }.map(\.0.path))
        for (e, _, _) in changes where e.deleted {
            if let parent = e.path.parent, try (work.observed[parent] ?? scanner.observe(parent))?.kind == .directory {
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
        let removed = Dictionary(gone.compactMap { d in d.kind == .file ? d.hash.map { (d.path.rawValue, $0) } : nil },
                                 uniquingKeysWith: { a, _ in a })
        let brought = Dictionary(changes.compactMap { e, status, _ in status == .added && e.kind == .file ? e.hash.map { (e.path.rawValue, $0) } : nil },
                                 uniquingKeysWith: { a, _ in a })
        shown = Change.foldingRenames(shown) { $0.status == .deleted ? removed[$0.path] : brought[$0.path] }

        // The commit, then the index: a crash between them is repaired by the next scan.
        let sequence = try context.index.sequence() + Int64(changes.count)
        var commitID = snapshot.head
        if snapshot.head == nil || snapshot.changed {
            commitID = try recorder.commit(snapshot, changes: shown, sequence: sequence, authored: true)
        }
        try beforeRecord?()
        let first = try context.index.sequence() + 1
        // A rename's two rows side by side in sequence order, for peers that pull a batch at a time.
        let formerHash = Dictionary(gone.map { ($0.path, $0.hash) }, uniquingKeysWith: { a, _ in a })
        try context.index.record(changes: FileEntry.keepingRenamesTogether(changes.map(\.0)) { formerHash[$0.path] ?? nil },
                                 refreshed: refreshed, commit: commitID?.hex, meta: holding ? [("hold.from", String(first))] : [])
        // Manifests only speed up transfers: one that cannot be kept is made again when needed.
        if !manifests.isEmpty { try? context.index.keepManifests(manifests) }
        return Part(sequence: sequence, commit: commitID, shown: shown)
    }

    /// What a commit would look at: the paths whose stat data differ from the index (to be
    /// hashed), in path order, and the rows whose path is gone, in path order.
    struct Plan {
        /// What a commit of named paths saw of them (empty for a full scan).
        var observed: [RelativePath: Observation] = [:]
        var candidates = ObservationList()
        var deleted: [RelativePath] = []
        /// How many of `deleted` are files or links (the mass-deletion guard counts those).
        var deletedFiles = 0
        var problems: [ScanProblem] = []
        /// Our temporary files a full scan passed, with their modification times.
        var temporaries: [(RelativePath, Int)] = []

        /// Whether what the scan saw needs no look at the content (a directory is a directory).
        static func unchanged(_ o: Observation, _ e: IndexStat?) -> Bool {
            guard let e else { return false }
            return o.matchesStat(of: e) || (!e.deleted && e.kind == .directory && o.kind == .directory)
        }

        /// A row whose path the scan did not find: deleted, unless it is a deletion already or
        /// the scan skips it.
        mutating func gone(_ p: RelativePath, _ e: IndexStat, _ scanner: Scanner) {
            if e.deleted || scanner.skips(p, isDirectory: e.kind == .directory) { return }
            deleted.append(p)
            if e.kind != .directory { deletedFiles += 1 }
        }
    }

    func plan(paths: [RelativePath]?, scanner: Scanner) throws -> Plan {
        guard let paths else {
            do { return try wholeFolder(scanner: scanner, cached: true) } catch is StatCache.Damaged {
                StatCache.remove(context.folder.statCachePath)
                return try wholeFolder(scanner: scanner, cached: false)
            }
        }
        var plan = Plan()
        // Each path looked at once, however many of the paths share it as a directory (a pull's
        // batch names thousands of files in a few directories).
        var looked: [RelativePath: Observation?] = [:]
        func look(_ p: RelativePath) throws -> Observation? {
            if let o = looked[p] { return o }
            let o = try scanner.observe(p)
            looked[p] = o
            return o
        }
        // A path whose directory is gone widens to the outermost missing directory,
        // so that every row below it is in scope and deleted with it.
        let scopes = try Self.outermost(paths.map { p in
            for a in p.ancestors where try look(a)?.kind != .directory { return a }
            return p
        })
        var stats: [RelativePath: IndexStat] = [:]
        var asked: Set<RelativePath> = []
        for p in scopes {
            let o = try look(p)
            if scanner.skips(p, isDirectory: o?.kind == .directory) { continue }
            for a in p.ancestors where asked.insert(a).inserted {
                if let ao = try look(a) { plan.observed[a] = ao }
                if let e = try context.index.entry(a) { stats[a] = IndexStat(e) }
            }
            if let o {
                plan.observed[p] = o
                if o.kind == .directory { plan.problems += try scanner.walk(from: p) { plan.observed[$0.path] = $0 } }
            }
            for e in try context.index.entries(under: p) { stats[e.path] = IndexStat(e) }
        }
        for o in plan.observed.values.filter({ !Plan.unchanged($0, stats[$0.path]) }).sorted(by: { $0.path < $1.path }) {
            plan.candidates.append(o)
        }
        for (p, e) in stats where plan.observed[p] == nil { plan.gone(p, e, scanner) }
        plan.deleted.sort()
        return plan
    }

    /// The plan of a full scan: the walk and the index's rows, both in path order, merged as they
    /// come (the rows from the stat cache, or the next page of them read on the second core):
    /// memory holds what changed, never every path. A row below a directory that could not be
    /// listed is not gone. A scan that finds nothing to record leaves a stat cache of the rows.
    func wholeFolder(scanner: Scanner, cached: Bool) throws -> Plan {
        var plan = Plan()
        let rows = try StatRows(context, pageSize: pageSize, cached: cached)
        var more = try rows.advance()
        var unread: [RelativePath] = []
        func goneUnlessUnread(_ p: RelativePath, _ e: IndexStat) {
            if !unread.isEmpty, unread.contains(where: { p.isWithin($0) && p != $0 }) { return }
            plan.gone(p, e, scanner)
        }
        let walked = try scanner.walkInPathOrder(temporary: { plan.temporaries.append(($0, $1)) },
                                                 unread: { unread.append($0) }) { o in
            var order = more ? rows.compare(o.path) : 1
            while order < 0 {
                goneUnlessUnread(try rows.path(), rows.stat)
                more = try rows.advance()
                order = more ? rows.compare(o.path) : 1
            }
            if order == 0 {
                if !Plan.unchanged(o, rows.stat) { plan.candidates.append(o) }
                more = try rows.advance()
            } else {
                plan.candidates.append(o)
            }
        }
        while more {
            goneUnlessUnread(try rows.path(), rows.stat)
            more = try rows.advance()
        }
        plan.problems = walked
        if plan.candidates.isEmpty && plan.deleted.isEmpty { try rows.keep() }
        return plan
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
        var changed: [RelativePath] = []
        for start in stride(from: 0, to: p.candidates.count, by: 5_000) {
            let part = p.candidates[start..<min(start + 5_000, p.candidates.count)]
            let known = try context.index.entries(part.map(\.path))
            for o in part {
                guard o.kind == .file || o.kind == .symlink, let e = known[o.path], !e.deleted, e.kind == o.kind, e.ctimeNs == 0,
                      e.size == o.size, e.mtimeNs == o.mtimeNs, e.inode == o.inode, e.executable == o.executable
                else { changed.append(o.path); continue }
                guard reading else { continue }
                let differs = o.kind == .symlink ? readLink(context.absolute(o.path)) != e.symlinkTarget
                    : (try? HistoryRepository.hashFile(context.absolute(o.path)).hex) != e.hash
                if differs { changed.append(o.path) }
            }
        }
        return (changed + p.deleted).sorted()
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

/// The index's stat rows in path order for a full scan: from the stat cache when it holds the
/// index's present state, else from the index a page at a time, copied into a new stat cache as
/// they are read (kept by `keep` when the index did not change meanwhile).
final class StatRows {
    private var cache: StatCache.Reader?
    private var pages: IndexPages?
    private var copy: StatCache.Writer?
    private let stamp: String
    private let context: FolderContext

    init(_ context: FolderContext, pageSize: Int, cached: Bool) throws {
        self.context = context
        stamp = try context.index.rowsStamp()
        let path = context.folder.statCachePath
        if cached, let reader = StatCache.open(path, stamp: stamp) {
            cache = reader
        } else {
            pages = IndexPages(context.index, pageSize: pageSize)
            copy = (try? context.state.temporaryPath("stat-cache")).flatMap { StatCache.Writer(path, temporary: $0, stamp: stamp) }
        }
    }

    /// Whether the rows came from the stat cache.
    var fromCache: Bool { cache != nil }

    /// The row from the index's pages that `advance` moved to.
    private var row: (RelativePath, IndexStat)?

    /// Moves to the next row; false after the last.
    func advance() throws -> Bool {
        if let cache { return try cache.advance() }
        row = try pages?.next()
        guard let row else { return false }
        copy?.add(row.0, row.1)
        return true
    }

    /// The row's path against `path`, bytes compared (the stat cache's rows make no string for it).
    func compare(_ path: RelativePath) -> Int {
        if let cache { return cache.compare(path) }
        return RelativePath.compareBytes(row!.0.rawValue, path.rawValue)
    }

    /// The row's stat data.
    var stat: IndexStat { cache?.rowStat ?? row!.1 }

    /// The row's path.
    func path() throws -> RelativePath { try cache?.rowPath() ?? row!.0 }

    /// Keeps the copy of the rows read from the index (all of them read), if no write changed the
    /// index while they were read (pages are read one transaction each).
    func keep() throws {
        guard let copy else { return }
        self.copy = nil
        if try context.index.rowsStamp() == stamp { copy.finish() }
    }
}

/// The index's stat rows in path order, a page at a time, the next page read on another thread
/// while this one is compared with the walk.
struct IndexPages {
    static let pageSize = 8192
    private let index: FolderIndex
    private let size: Int
    private var page: [(RelativePath, IndexStat)] = []
    private var at = 0
    private var ahead: Background<[(RelativePath, IndexStat)]>?

    init(_ index: FolderIndex, pageSize: Int = Self.pageSize) {
        self.index = index
        size = max(1, pageSize)
        ahead = Background { [size] in try index.stats(after: nil, limit: size) }
    }

    mutating func next() throws -> (RelativePath, IndexStat)? {
        if at == page.count {
            guard let ahead else { return nil }
            page = try ahead.value()
            at = 0
            if page.count == size, let last = page.last?.0 {
                self.ahead = Background { [index, size] in try index.stats(after: last, limit: size) }
            } else {
                self.ahead = nil
            }
            if page.isEmpty { return nil }
        }
        defer { at += 1 }
        return page[at]
    }
}

