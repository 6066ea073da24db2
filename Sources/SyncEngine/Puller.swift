import Foundation
import SyncCore
import SyncDelta
import SyncGit
import SyncProtocol

/// Pulls a folder from a peer: fetches its index rows since the last sequence seen from it, decides
/// each by version vector, and applies what is newer, safely, recording a batch at a time in the
/// index and as a history commit of this node.
public final class Puller {
    let context: FolderContext
    let remote: RemoteFolder
    let peer: NodeID
    public var dryRun = false
    public var batchSize = 1000
    public var progress: ((PullProgress) -> Void)?
    /// Asked between batches: true stops the pull there (what was recorded stays).
    public var cancelled: () -> Bool = { false }
    var state = PullProgress()
    var outcome = PullOutcome()
    /// Delta transfers are worth a signature only above this size.
    static let deltaThreshold: Int64 = 64 << 10
    /// Files up to this size that must come whole from the peer are fetched ahead, a window at a
    /// time: the requests go out together, the answers go straight into temporary files, and one
    /// syncfs makes the window durable before any of them is renamed into place.
    static let stageMaxSize: Int64 = 1 << 20
    static let windowFiles = 512
    static let windowBytes: Int64 = 32 << 20
    /// Paths whose content waits, verified and durable, in `.sync-tmp-<hash>` beside them.
    var staged: [RelativePath: String] = [:]
    /// Paths whose fetch ahead failed, with the peer's reason.
    var stageFailures: [RelativePath: String] = [:]
    /// Stores received files in history beside the transfers (nil in a dry run).
    lazy var blobs: BlobWriter? = dryRun ? nil
        : try? BlobWriter(historyPath: context.folder.historyPath, root: root, inMemory: Self.stageMaxSize)
    /// This batch's rows of the local index, by path.
    var locals: [RelativePath: FileEntry] = [:]
    /// Directories whose entries changed in this batch: fsynced once before the batch is recorded.
    var dirtyDirectories: Set<RelativePath?> = []
    /// What this batch did to the folder, undone when it cannot be recorded.
    var journal: Journal?
    /// Rows put off to the end of the pull: a directory to remove or to replace by a file that
    /// is not empty, which a later batch may still empty. Decided after the last batch.
    var deferred: [WireEntry] = []
    /// A row of this pull was held (left for the next pull, the stored sequence kept below it).
    var heldForGood = false
    /// Called before a batch is recorded (tests make recording fail there).
    var beforeRecord: (() throws -> Void)?

    /// The lock that keeps two processes of this node from pulling a folder from one peer at once
    /// (each would store the peer's sequence as it saw it).
    public static func lockPath(_ folder: Folder, peer: NodeID) -> String { folder.directory + "/pull-\(peer.short).lock" }

    public init(context: FolderContext, remote: RemoteFolder, peer: NodeID) {
        self.context = context; self.remote = remote; self.peer = peer
        me = peer
    }

    var root: String { context.folder.root }
    /// This node, which settles concurrent versions (Reconcile.decide); set when `run` starts.
    var me: NodeID

    public func run() throws -> PullOutcome {
        me = try context.state.identity().id
        // Paused stops both directions: nothing of a peer's lands here (the setting as it is now).
        if !dryRun, try Folder(id: context.folder.id, stateDirectory: context.state).config.paused {
            throw SyncError.folderPaused(context.folder.id.rawValue)
        }
        let index = context.index
        let seqKey = MetaKey.peerSequence(peer.rawValue), epochKey = MetaKey.peerEpoch(peer.rawValue)
        var since = Int64(try index.meta(seqKey) ?? "0") ?? 0
        let knownEpoch = try index.meta(epochKey)
        var restarted = false
        var held = false
        deferred = []
        heldForGood = false
        while true {
            let batch = try remote.index(since: since, limit: batchSize)
            if !restarted, let knownEpoch, knownEpoch != batch.epoch, since > 0 {
                // The peer's index was made anew: its sequence numbers mean something else now.
                since = 0; restarted = true
                continue
            }
            restarted = true
            let last = batch.entries.map(\.sequence).max() ?? since
            let upTo = batch.more ? last : max(last, batch.sequence)
            // After a batch left rows for later, the stored sequence stays below them (apply
            // stored it so); later batches are applied but store none.
            if try apply(batch.entries, storing: held ? nil : (epochKey, batch.epoch, seqKey, upTo), last: !batch.more) != nil { held = true }
            since = upTo
            if !batch.more || cancelled() {
                // Rows put off to the end (a directory a later batch might have emptied) are
                // decided now; the stored sequence, kept below them, moves past them when no
                // row was held for another reason.
                if !deferred.isEmpty && !dryRun && !cancelled() {
                    let rows = deferred
                    deferred = []
                    _ = try apply(rows, storing: heldForGood ? nil : (epochKey, batch.epoch, seqKey, upTo), last: true)
                }
                break
            }
        }
        // Every row of the peer is in: what earlier transfers left to resume is superseded.
        if !dryRun && !held && !cancelled() { try dropTransfers() }
        outcome.sequence = try index.sequence()
        return outcome
    }

    /// Where this node notes the temporaries of pulls (a transfer kept to resume, `.sync-tmp-<content
    /// id>`, and the writer's own), one path a line, so that what a cut or killed pull left goes
    /// once nothing wants it.
    var transfersPath: String { context.folder.directory + "/transfers" }

    /// Notes a temporary a transfer writes, before it writes it: a kill leaves nothing unnoted.
    func noteTransfer(_ tmp: RelativePath) {
        let fd = open(transfersPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = (PathQuoting.quote(tmp.rawValue) + "\n").utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }

    /// Removes every noted temporary still there, under the folder lock (no batch is writing one).
    func dropTransfers() throws {
        var st = stat()
        guard stat(transfersPath, &st) == 0, st.st_size > 0 else { return }
        let lock = try FileLock(path: context.folder.lockPath)
        defer { _ = lock }
        // Line by line: a pull of many files notes many.
        guard let f = fopen(transfersPath, "r") else { return }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, f) > 0, let l = line {
            let text = String(cString: l).trimmingCharacters(in: .newlines)
            guard let p = PathQuoting.unquote(Substring(text)).flatMap({ try? RelativePath($0) }), p.name.hasPrefix(Scanner.temporaryPrefix),
                  let dir = try? writer.directory(p.parent) else { continue }
            unlinkat(dir, p.name, 0)
            close(dir)
        }
        free(line)
        fclose(f)
        truncate(transfersPath, 0)
    }

    struct Held: Error { let reason: String }
    struct Refused: Error { let reason: String }

    /// Applies one batch; returns the lowest sequence left for a later pull, if any.
    /// `last`: no later batch of this pull follows.
    func apply(_ wire: [WireEntry], storing meta: (String, String, String, Int64)?, last: Bool = true) throws -> Int64? {
        _ = blobs?.finish() // nothing of an earlier batch that failed may be taken for this one's
        var entries: [FileEntry] = []
        let scanner = context.scanner()
        for w in wire {
            do {
                let e = try validate(w, scanner)
                // Refuses a path through a link before anything looks at it (one through a file
                // is decided when the row is applied: this batch may make that file a directory).
                do { _ = try observe(e.path) } catch is Held {}
                entries.append(e)
            } catch let r as Refused {
                outcome.problems.append(PullProblem(.refused, w.path, r.reason))
            }
        }
        state.entriesTotal += entries.count
        let changeStart = outcome.changes.count
        var firstHeld: Int64?
        func hold(_ e: FileEntry, _ why: String) {
            outcome.problems.append(PullProblem(.held, e.path.rawValue, why))
            firstHeld = min(firstHeld ?? e.sequence, e.sequence)
            heldForGood = true
        }
        /// Puts `e` off to the end of the pull (the stored sequence stays below it meanwhile).
        func postpone(_ e: FileEntry) {
            guard let w = wire.first(where: { $0.path == e.path.rawValue }) else { return hold(e, "directory not empty here") }
            deferred.append(w)
            firstHeld = min(firstHeld ?? e.sequence, e.sequence)
        }

        // The index must know every local change to these paths before versions are compared.
        if !dryRun, !entries.isEmpty { _ = try Committer(context).commit(paths: entries.map(\.path)) }
        let lock = dryRun ? nil : try context.lockForWriting()
        defer { _ = lock }
        // A prune may have rewritten history since these handles were opened.
        if !dryRun {
            try context.history.reopenIfRewritten()
            blobs?.reopen()
        }

        // New rows first (a rename's new path finds its content here before the old one goes),
        // then deletions, deepest first; but deletions below a path this batch makes a file or
        // a link go before everything, so that the directory there is empty when it is replaced.
        let becomeFiles = Set(entries.filter { !$0.deleted && $0.kind != .directory }.map(\.path))
        let deletions = entries.filter(\.deleted).sorted { $0.path > $1.path }
        func underNewFile(_ e: FileEntry) -> Bool { e.path.ancestors.contains { becomeFiles.contains($0) } }
        let ordered = deletions.filter(underNewFile)
            + entries.filter { !$0.deleted }.sorted { $0.path < $1.path }
            + deletions.filter { !underNewFile($0) }
        var records: [FileEntry] = []
        var touched: Set<RelativePath> = []
        // The index does not change until the batch is recorded: its rows are read once.
        locals = try context.index.entries(ordered.map(\.path))
        var stagedUpTo = 0
        let journal = dryRun ? nil : Journal()
        self.journal = journal
        defer { self.journal = nil }
        do {
            for (i, r) in ordered.enumerated() {
                if !dryRun && i == stagedUpTo { stagedUpTo = try stage(ordered, from: i) }
                state.entriesDone += 1
                state.currentPath = r.path.rawValue
                progress?(state)
                let local = locals[r.path]
                let decision = Reconcile.decide(local: local, remote: r, resolver: me)
                if dryRun {
                    switch decision {
                    case .skip, .keepLocal: break
                    case .take: outcome.changes.append(Change(status: r.deleted ? .deleted : (local == nil || local!.deleted ? .added : .modified), path: r.path.rawValue))
                    case .conflict(_, let copy, _):
                        outcome.changes.append(Change(status: .modified, path: r.path.rawValue))
                        outcome.conflicts.append((r.path.rawValue, copy.rawValue))
                    }
                    continue
                }
                do {
                    switch decision {
                    case .skip:
                        continue
                    case .keepLocal(let v):
                        var l = local!
                        l.version = v
                        records.append(l)
                    case .take(let v):
                        if let why = stageFailures.removeValue(forKey: r.path) { hold(r, why); continue }
                        // A new directory may be there already: made for files fetched ahead into it.
                        var madeAhead = false
                        if r.kind == .directory && !r.deleted && (local == nil || local!.deleted) {
                            madeAhead = try observe(r.path)?.kind == .directory
                        }
                        guard try madeAhead || unchanged(r.path, local) else { hold(r, "changed here meanwhile"); continue }
                        if let l = local, !l.deleted, !r.deleted, l.sameContent(as: r) {
                            var same = l; same.version = v; records.append(same); continue
                        }
                        if let l = local, !l.deleted, l.kind == .directory, !r.deleted, r.kind != .directory,
                           try !writer.removeDirectory(r.path) {
                            // The peer made a file of a directory that holds what it has not seen
                            // here: once no later batch of this pull may still empty it (the row
                            // is put off to the end), the directory keeps its path and the file
                            // goes beside it, as a conflict copy.
                            guard last else { postpone(r); continue }
                            let copy = Reconcile.conflictCopy(of: r.path, mtimeNs: r.mtimeNs,
                                                              node: Reconcile.author(of: r.version, against: l.version),
                                                              tag: r.hash.map { String($0.prefix(7)) })
                            if let there = try observe(copy) {
                                guard there.kind == r.kind, let row = try locals[copy] ?? context.index.entry(copy),
                                      !row.deleted, row.hash == r.hash else { hold(r, "conflict copy \(copy.rawValue) exists already"); continue }
                            } else {
                                var row = try materialize(r, at: copy, basis: nil, replacing: nil)
                                row.path = copy
                                records.append(row)
                                touched.insert(copy)
                                outcome.changes.append(Change(status: .added, path: copy.rawValue))
                            }
                            var kept = l
                            kept.version = v.merged(with: l.version).bumped(by: me)
                            records.append(kept)
                            touched.insert(r.path)
                            outcome.conflicts.append((r.path.rawValue, copy.rawValue))
                            continue
                        }
                        if r.deleted {
                            if let l = local, !l.deleted, l.kind == .directory, try !writer.removeDirectory(l.path) {
                                // What is left in it may go in a later batch of this pull (the row
                                // is put off to the end); then it holds what the peer has not seen:
                                // the directory stays, with a version that brings it back to the peer.
                                guard last else { postpone(r); continue }
                                var kept = l
                                kept.version = v.merged(with: l.version).bumped(by: me)
                                records.append(kept)
                                touched.insert(r.path)
                                continue
                            }
                            if let l = local, !l.deleted {
                                try remove(l)
                                outcome.changes.append(Change(status: .deleted, path: r.path.rawValue))
                            }
                            var t = r; t.version = v; t.hash = nil; t.size = 0; t.mtimeNs = 0; t.ctimeNs = 0; t.inode = 0
                            records.append(t)
                        } else {
                            var row = try materialize(r, at: r.path, basis: local, replacing: local)
                            row.version = v
                            records.append(row)
                            if r.kind != .directory {
                                outcome.changes.append(Change(status: local == nil || local!.deleted ? .added : .modified, path: r.path.rawValue))
                            }
                        }
                    case .conflict(let remoteWins, let named, let v):
                        guard try unchanged(r.path, local) else { hold(r, "changed here meanwhile"); continue }
                        let l = local!
                        // The copy may be here already, from a peer that met the same conflict: then the
                        // losing version is kept, and only the path is settled. Its name holds the losing
                        // content's id: a name taken by other content is never replaced (the row waits).
                        let loser = remoteWins ? l : r
                        func held(_ p: RelativePath) throws -> FileEntry? {
                            try records.last(where: { $0.path == p }) ?? locals[p] ?? context.index.entry(p)
                        }
                        let copy = named
                        if try observe(copy) != nil {
                            guard let there = try held(copy), !there.deleted, there.hash == loser.hash else {
                                hold(r, "conflict copy \(copy.rawValue) exists already"); continue
                            }
                            if remoteWins {
                                var row = try materialize(r, at: r.path, basis: l, replacing: l)
                                row.version = v
                                records.append(row)
                            } else {
                                var kept = l
                                kept.version = v
                                records.append(kept)
                            }
                            outcome.changes.append(Change(status: .modified, path: r.path.rawValue))
                            touched.insert(r.path)
                            continue
                        }
                        if remoteWins {
                            do { try writer.moveAside(r.path, to: copy, expecting: l) } catch let c as FolderWriter.Changed {
                                throw Held(reason: c.path == copy ? "conflict copy \(copy.rawValue) exists already" : "changed here meanwhile")
                            }
                            var c = l
                            c.path = copy
                            if let o = try observe(copy) { c.ctimeNs = o.ctimeNs; c.inode = o.inode }
                            records.append(c)
                            touched.insert(copy)
                            var row = try materialize(r, at: r.path, basis: c, replacing: nil)
                            row.version = v
                            records.append(row)
                        } else {
                            var row = try materialize(r, at: copy, basis: l, replacing: nil)
                            row.path = copy
                            records.append(row)
                            touched.insert(copy)
                            var kept = l
                            kept.version = v
                            records.append(kept)
                        }
                        outcome.changes.append(Change(status: .modified, path: r.path.rawValue))
                        outcome.changes.append(Change(status: .added, path: copy.rawValue))
                        outcome.conflicts.append((r.path.rawValue, copy.rawValue))
                    }
                    touched.insert(r.path)
                } catch let h as Held {
                    hold(r, h.reason)
                } catch let f as Refused {
                    outcome.problems.append(PullProblem(.refused, r.path.rawValue, f.reason))
                } catch let e as RemoteError {
                    hold(r, "peer: \(e.message)")
                } catch let e as SyncError {
                    hold(r, e.description)
                }
            }
        } catch {
            // The link failed in the middle of the batch: what was applied is recorded (the peer's
            // sequence stays where it was, so the rest comes again), or else undone.
            guard let journal else { throw error }
            discardStaged()
            try settle(journal) { try record(records, touched: touched, changes: Array(outcome.changes[changeStart...]), meta: []) }
            throw error
        }
        guard let journal else { return firstHeld }
        let sent = Dictionary(entries.map { ($0.path, $0.version) }, uniquingKeysWith: { a, _ in a })
        outcome.rowsRecorded += records.count
        outcome.foreignRows += records.filter { sent[$0.path] != $0.version }.count
        discardStaged()
        try settle(journal) {
            try record(records, touched: touched, changes: Array(outcome.changes[changeStart...]), meta: meta.map { m in
                let upTo = firstHeld.map { min($0 - 1, m.3) } ?? m.3
                return [(m.0, m.1), (m.2, String(upTo))]
            } ?? [])
        }
        return firstHeld
    }

    /// Makes the batch durable and records it with `record`; when that fails, the folder is put
    /// back as it was before the batch: a batch that cannot be recorded changes nothing.
    func settle(_ journal: Journal, record: () throws -> Void) throws {
        do {
            try syncDirectories()
            try beforeRecord?()
            try record()
        } catch {
            let left = journal.undo(writer)
            for p in left { outcome.problems.append(PullProblem(.warning, p.rawValue, "changed here meanwhile; not put back after the batch failed")) }
            try? syncDirectories()
            throw error
        }
        journal.settle(writer)
    }

    /// Checks a peer's row and turns it into an index row; throws `Refused` for anything unsafe.
    func validate(_ w: WireEntry, _ scanner: Scanner) throws -> FileEntry {
        let path: RelativePath
        do { path = try RelativePath(w.path) } catch let e as SyncError {
            if case .invalidPath(_, let reason) = e { throw Refused(reason: "invalid path: \(reason)") }
            throw Refused(reason: "invalid path")
        }
        guard let kind = FileEntry.Kind(rawValue: w.kind) else { throw Refused(reason: "unknown kind '\(w.kind.prefix(20))'") }
        guard let version = try? VersionVector(parsing: w.version, fromPeer: true), !version.counters.isEmpty else {
            throw Refused(reason: "bad version vector")
        }
        if scanner.skips(path, isDirectory: kind == .directory) || path.ancestors.contains(where: { scanner.skips($0, isDirectory: true) }) {
            throw Refused(reason: "ignored here")
        }
        if !w.deleted && kind != .directory {
            guard let h = w.hash, h.utf8.count == 40, h.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw Refused(reason: "bad content hash")
            }
        }
        if kind == .symlink && !w.deleted {
            guard let t = w.symlinkTarget, !t.isEmpty, t.utf8.count <= 4095, !t.utf8.contains(0) else {
                throw Refused(reason: "bad link target")
            }
            guard HistoryRepository.hash(Array(t.utf8)).hex == w.hash else { throw Refused(reason: "link target does not match its hash") }
        }
        return FileEntry(path: path, kind: kind, hash: w.deleted || kind == .directory ? nil : w.hash,
                         size: kind == .file && !w.deleted ? w.size : 0, mtimeNs: w.mtimeNs,
                         executable: kind == .file && w.executable,
                         symlinkTarget: kind == .symlink && !w.deleted ? w.symlinkTarget : nil,
                         deleted: w.deleted, version: version, sequence: w.sequence)
    }

    // MARK: The folder on disk

    /// Every write into the folder goes through it.
    var writer: FolderWriter {
        FolderWriter(root: root, journal: journal, noteTemporary: dryRun ? nil : { [unowned self] in self.noteTransfer($0) })
    }

    /// The stat data of `path`, never following a link on the way; nil when absent.
    /// A parent that is a link refuses the row for good; one that is a file here holds it (a
    /// concurrent change replaced the directory, and settling that conflict brings it back).
    func observe(_ path: RelativePath) throws -> Observation? {
        do { return try writer.observe(path) } catch let b as FolderWriter.Blocked { throw Self.blocked(b) }
    }

    /// Whether the path on disk is still what the index says (absent when the row is absent or deleted).
    func unchanged(_ path: RelativePath, _ local: FileEntry?) throws -> Bool {
        do { return try writer.unchanged(path, local) } catch let b as FolderWriter.Blocked { throw Self.blocked(b) }
    }

    static func blocked(_ b: FolderWriter.Blocked) -> Error {
        b.link ? Refused(reason: "a parent directory is a link here") : Held(reason: "a parent directory is a file here")
    }

    /// Removes what `local` describes at its path (after `unchanged` said it is still that).
    func remove(_ local: FileEntry) throws {
        if local.kind == .directory {
            guard try writer.removeDirectory(local.path) else { throw Held(reason: "directory not empty here") }
            return
        }
        let dir = try writer.directory(local.path.parent)
        defer { close(dir) }
        keepLargeVersion(local, dir)
        do { try writer.remove(local.path, expecting: local) } catch is FolderWriter.Changed {
            throw Held(reason: "changed here meanwhile")
        }
        dirtyDirectories.insert(local.path.parent)
    }

    /// A file too large for history stays recoverable: a hard link in the folder's version store.
    func keepLargeVersion(_ local: FileEntry, _ dir: Int32) {
        guard local.kind == .file, !local.deleted, local.size > context.folder.config.maxBlob, let hash = local.hash else { return }
        let store = context.folder.directory + "/versions"
        try? FileSystem.makeDirectories(store, mode: 0o700)
        let s = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard s >= 0 else { return }
        defer { close(s) }
        if linkat(dir, local.path.name, s, hash, 0) != 0 && errno != EEXIST {
            outcome.problems.append(PullProblem(.warning, local.path.rawValue, "old version not kept in the version store: \(String(cString: strerror(errno)))"))
        }
    }

    /// Puts the remote version `r` at `target`; `basis` is a local version to build a delta on,
    /// `replacing` what is at `target` now (checked unchanged by the caller). Returns the new row.
    func materialize(_ r: FileEntry, at target: RelativePath, basis: FileEntry?, replacing current: FileEntry?) throws -> FileEntry {
        let dir: Int32
        do { dir = try writer.directory(target.parent, create: true) } catch let b as FolderWriter.Blocked {
            throw Self.blocked(b)
        }
        defer { close(dir) }
        if let c = current, !c.deleted, c.kind != r.kind || r.kind == .directory {
            if c.kind == .directory {
                if r.kind != .directory, try !writer.removeDirectory(target) { throw Held(reason: "directory not empty here") }
            } else {
                keepLargeVersion(c, dir)
                do { try writer.remove(target, expecting: c) } catch is FolderWriter.Changed {
                    throw Held(reason: "changed here meanwhile")
                }
            }
        }
        switch r.kind {
        case .directory:
            try writer.makeDirectoryHere(target)
        case .symlink:
            // What was at the target was removed above when it was of another kind.
            let replaced = current.flatMap { $0.kind == .symlink ? $0 : nil }
            do { try writer.placeLink(target, target: r.symlinkTarget!, replacing: replaced) } catch is FolderWriter.Changed {
                throw Held(reason: "changed here meanwhile")
            }
        case .file:
            try writeFile(r, dir: dir, target: target, basis: basis, current: current)
        }
        dirtyDirectories.insert(target.parent)
        guard let o = try observe(target) else { throw Held(reason: "vanished right after it was written") }
        outcome.filesFetched += r.kind == .file ? 1 : 0
        return FileEntry(path: target, kind: o.kind, hash: r.hash, size: o.size, mtimeNs: o.mtimeNs, ctimeNs: o.ctimeNs,
                         inode: o.inode, executable: o.executable, symlinkTarget: r.symlinkTarget, deleted: false,
                         version: r.version, sequence: 0)
    }

    /// Fetches a file's content into a temporary file beside the target, verifies its hash, and
    /// renames it into place only if the target is still what the caller saw.
    func writeFile(_ r: FileEntry, dir: Int32, target: RelativePath, basis: FileEntry?, current: FileEntry?) throws {
        let hash = r.hash!
        // A fixed name per content: an interrupted transfer resumes where it stopped.
        let tmp = Scanner.temporaryPrefix + hash
        if let t = try? target.parent.map({ try $0.appending(tmp) }) ?? RelativePath(tmp) { noteTransfer(t) }
        let fd = openat(dir, tmp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SyncError.io(path: context.absolute(target), operation: "create temporary", errno: errno) }
        var keepTemporary = false
        defer {
            close(fd)
            if !keepTemporary { unlinkat(dir, tmp, 0) }
        }
        var st = stat()
        fstat(fd, &st)
        let have = Int64(st.st_size)
        let fdPath = "/proc/self/fd/\(fd)"
        var done = false, verified = false, durable = false
        if staged.removeValue(forKey: target) != nil, have == r.size {
            done = true; verified = true; durable = true
        }
        if !done && have > 0 && have < r.size {
            lseek(fd, 0, SEEK_END)
            do {
                _ = try whole(r, offset: have, fd)
                done = true
            } catch let e as RemoteError { throw Held(reason: "peer: \(e.message)") }
            catch { keepTemporary = Self.resumable(error); throw error }
        }
        if !done && have == r.size && have > 0, (try? HistoryRepository.hashFile(fdPath).hex) == hash { done = true; verified = true }
        // Both of these return true only for content that matched the hash.
        if !done { done = try fromHere(hash, fd); verified = done }
        if !done, let b = basis, !b.deleted, b.kind == .file, b.size >= Self.deltaThreshold, r.size >= Self.deltaThreshold {
            done = (try? delta(r, basis: b, fd)) ?? false
            verified = done
        }
        if !done {
            reset(fd)
            do { verified = try whole(r, offset: 0, fd) } catch let e as RemoteError { throw Held(reason: "peer: \(e.message)") }
            catch { keepTemporary = Self.resumable(error); throw error }
        }
        guard verified || (try? HistoryRepository.hashFile(fdPath).hex) == hash else {
            throw Held(reason: "content from peer does not match its hash")
        }
        if !durable {
            setModeAndTime(fd, r, dir: dir, target: target, current: current)
            guard fsync(fd) == 0 else { throw SyncError.io(path: context.absolute(target), operation: "fsync", errno: errno) }
        }
        // Last check: a local edit since the decision wins over our write.
        guard try unchanged(target, current) else { throw Held(reason: "changed here meanwhile") }
        if let c = current { keepLargeVersion(c, dir) }
        do { try writer.rename(tmp, in: dir, to: target, replacing: current) } catch is FolderWriter.Changed {
            throw Held(reason: "changed here meanwhile")
        }
        keepTemporary = true // renamed: nothing left to remove
        if r.size <= context.folder.config.maxBlob, !context.history.contains(try ObjectID(hex: hash)) {
            blobs?.submit(target, size: r.size)
        }
    }

    /// The mode a received file gets (the replaced file's, else the umask's, with x bits as the
    /// peer says) and the peer's modification time.
    func setModeAndTime(_ fd: Int32, _ r: FileEntry, dir: Int32, target: RelativePath, current: FileEntry?) {
        fchmod(fd, writer.mode(dir, target, current, executable: r.executable))
        var times = [timespec(tv_sec: Int(r.mtimeNs / 1_000_000_000), tv_nsec: Int(r.mtimeNs % 1_000_000_000)),
                     timespec(tv_sec: Int(r.mtimeNs / 1_000_000_000), tv_nsec: Int(r.mtimeNs % 1_000_000_000))]
        times[0].tv_nsec = (1 << 30) - 2 // UTIME_OMIT
        futimens(fd, times)
    }

    // MARK: Fetching ahead

    /// Fetches ahead the small files from `ordered[start...]` that must come whole from the peer,
    /// up to a window's worth; returns the index where the next window starts.
    func stage(_ ordered: [FileEntry], from start: Int) throws -> Int {
        struct Pending { let entry: FileEntry; let local: FileEntry?; let dir: Int32; let fd: Int32; let tmp: String; let id: UInt32 }
        var candidates: [(FileEntry, FileEntry?)] = []
        var hashes: Set<String> = []
        var bytes: Int64 = 0
        var end = start
        while end < ordered.count, candidates.count < Self.windowFiles, bytes < Self.windowBytes {
            let r = ordered[end]
            end += 1
            guard r.kind == .file, !r.deleted, r.size <= Self.stageMaxSize, let hash = r.hash, !hashes.contains(hash) else { continue }
            let local = locals[r.path]
            guard case .take = Reconcile.decide(local: local, remote: r, resolver: me) else { continue }
            if let l = local, !l.deleted {
                if l.sameContent(as: r) { continue }
                if l.kind == .file, l.size >= Self.deltaThreshold, r.size >= Self.deltaThreshold { continue } // a delta is cheaper
            }
            guard try context.index.files(withHash: hash).isEmpty else { continue } // copied here instead
            if let id = try? ObjectID(hex: hash), context.history.contains(id) { continue }
            hashes.insert(hash)
            bytes += r.size
            candidates.append((r, local))
        }
        guard !candidates.isEmpty else { return end }
        var pending: [Pending] = []
        defer { for p in pending { close(p.fd); close(p.dir) } }
        for (r, local) in candidates {
            guard let dir = try? writer.directory(r.path.parent, create: true) else { continue } // reported later
            let tmp = Scanner.temporaryPrefix + r.hash!
            if let t = try? r.path.parent.map({ try $0.appending(tmp) }) ?? RelativePath(tmp) { noteTransfer(t) }
            let fd = openat(dir, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { close(dir); continue }
            let id: UInt32
            do { id = try remote.requestContent(r.path.rawValue, hash: r.hash!) } catch { close(fd); unlinkat(dir, tmp, 0); close(dir); throw error }
            pending.append(Pending(entry: r, local: local, dir: dir, fd: fd, tmp: tmp, id: id))
        }
        var ready: [Pending] = []
        do {
            for p in pending {
                let matches: Bool
                do { matches = try receive(p.id, p.entry, offset: 0, into: p.fd) } catch let e as RemoteError {
                    unlinkat(p.dir, p.tmp, 0)
                    stageFailures[p.entry.path] = "peer: " + e.message
                    continue
                }
                guard matches else {
                    unlinkat(p.dir, p.tmp, 0)
                    stageFailures[p.entry.path] = "content from peer does not match its hash"
                    continue
                }
                setModeAndTime(p.fd, p.entry, dir: p.dir, target: p.entry.path, current: p.local)
                ready.append(p)
            }
        } catch {
            // The link failed: nothing of this window is kept (small files are fetched again).
            for p in pending { unlinkat(p.dir, p.tmp, 0) }
            throw error
        }
        // One flush for the whole window instead of an fsync per file.
        if let first = ready.first, !FileSystem.syncFileSystem(of: first.fd) {
            throw SyncError.io(path: root, operation: "syncfs", errno: errno)
        }
        for p in ready { staged[p.entry.path] = p.tmp }
        return end
    }

    /// Removes content fetched ahead that was not used (its path was held or refused meanwhile).
    func discardStaged() {
        for (path, tmp) in staged {
            guard let dir = try? Beneath.directory(path.parent, in: root) else { continue }
            unlinkat(dir, tmp, 0)
            close(dir)
        }
        staged = [:]
        stageFailures = [:]
    }

    /// Makes the batch's renames and removals durable before the batch is recorded.
    func syncDirectories() throws {
        for d in dirtyDirectories {
            guard let fd = try? Beneath.directory(d, in: root) else { continue }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw SyncError.io(path: d.map(context.absolute) ?? root, operation: "fsync", errno: errno) }
        }
        dirtyDirectories = []
    }

    /// A transfer cut off by the link going away resumes later; one the peer garbled does not.
    static func resumable(_ error: Error) -> Bool {
        if let p = error as? ProtocolError { return p == .closed }
        return true
    }

    private func reset(_ fd: Int32) { ftruncate(fd, 0); lseek(fd, 0, SEEK_SET) }

    /// Content already on this node: a live file with that hash, or a blob in history.
    func fromHere(_ hash: String, _ fd: Int32) throws -> Bool {
        for p in try context.index.files(withHash: hash).prefix(3) {
            guard let src = try? Beneath.openForReading(p, in: root) else { continue }
            defer { close(src) }
            reset(fd)
            guard (try? FileSystem.copy(from: src, to: fd, what: context.absolute(p))) != nil else { continue }
            if (try? HistoryRepository.hashFile("/proc/self/fd/\(fd)").hex) == hash { return true }
        }
        if let id = try? ObjectID(hex: hash), context.history.contains(id) {
            reset(fd)
            if (try? context.history.write(blob: id, to: fd)) != nil { return true }
        }
        return false
    }

    /// Fetches `r` whole from `offset`; returns whether the bytes (all of them, from offset 0) hashed
    /// to `r.hash` as they came, which spares reading the file again to check it.
    func whole(_ r: FileEntry, offset: Int64, _ fd: Int32) throws -> Bool {
        try receive(try remote.requestContent(r.path.rawValue, hash: r.hash!, offset: offset), r, offset: offset, into: fd)
    }

    /// Reads the answer to content request `id` for `r` (from `offset`) into `fd`, hashing the bytes
    /// as they come when they start at 0; returns whether they were exactly `r`'s content.
    func receive(_ id: UInt32, _ r: FileEntry, offset: Int64, into fd: Int32) throws -> Bool {
        var hasher = offset == 0 ? BlobHasher(size: r.size) : nil
        let n = try remote.receiveContent(id, into: fd, limit: r.size - offset) {
            hasher?.update($0)
            self.received($0.count)
        }
        return n == r.size && hasher?.finish() == r.hash
    }

    func received(_ n: Int) {
        outcome.contentBytes += Int64(n)
        state.bytesReceived += Int64(n)
        progress?(state)
    }

    /// A librsync delta against the local version `basis`.
    func delta(_ r: FileEntry, basis b: FileEntry, _ fd: Int32) throws -> Bool {
        let base = try Beneath.openForReading(b.path, in: root)
        defer { close(base) }
        let stem = try context.state.temporaryPath("pull")
        defer { unlink(stem + ".sig"); unlink(stem + ".delta") }
        try Delta.signature(of: "/proc/self/fd/\(base)", to: stem + ".sig")
        let sig = open(stem + ".sig", O_RDONLY | O_CLOEXEC)
        let out = open(stem + ".delta", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { if sig >= 0 { close(sig) }; if out >= 0 { close(out) } }
        guard sig >= 0, out >= 0 else { return false }
        try remote.delta(r.path.rawValue, hash: r.hash!, signature: sig, into: out,
                         limit: r.size + r.size / 8 + (1 << 20)) { self.received($0.count) }
        reset(fd)
        try Delta.patch(basis: "/proc/self/fd/\(base)", delta: stem + ".delta", to: "/proc/self/fd/\(fd)")
        return (try? HistoryRepository.hashFile("/proc/self/fd/\(fd)").hex) == r.hash
    }

    // MARK: Recording

    /// Records the batch: one history commit of what changed on disk, then the index rows and the
    /// peer's sequence in one transaction.
    func record(_ rows: [FileEntry], touched: Set<RelativePath>, changes: [Change], meta: [(String, String)]) throws {
        guard !rows.isEmpty else {
            if !meta.isEmpty { try context.index.record(changes: [], commit: nil, meta: meta) }
            return
        }
        let history = context.history
        var updates: [HistoryRepository.Update] = []
        let maxBlob = context.folder.config.maxBlob
        let stored = blobs?.finish() ?? [:]
        do {
            for e in rows where touched.contains(e.path) {
                if e.deleted {
                    updates.append(.remove(path: e.path.rawValue))
                    continue
                }
                switch e.kind {
                case .directory:
                    continue
                case .symlink:
                    updates.append(.upsert(path: e.path.rawValue, id: try history.writeBlob(Array((e.symlinkTarget ?? "").utf8)), mode: .symlink))
                case .file:
                    let id: ObjectID
                    if e.size > maxBlob {
                        id = try history.writeBlob(LargeFilePointer(id: e.hash!, size: e.size).bytes)
                    } else if let written = stored[e.path] {
                        id = try written.get()
                    } else if let h = try? ObjectID(hex: e.hash!), history.contains(h) {
                        id = h
                    } else {
                        id = try history.storeFile(e.path, size: e.size, root: root, inMemory: Self.stageMaxSize)
                    }
                    updates.append(.upsert(path: e.path.rawValue, id: id, mode: e.executable ? .executable : .file))
                }
            }
            var commitID = try history.head()
            if !updates.isEmpty || rows.contains(where: { $0.kind == .directory && touched.contains($0.path) }) {
                // Directories this batch made or emptied are kept as empty trees, as Committer does.
                var live = Set(rows.filter { $0.kind == .directory && !$0.deleted && touched.contains($0.path) }.map(\.path))
                for e in rows where e.deleted && touched.contains(e.path) {
                    if let parent = e.path.parent, (try? observe(parent))?.kind == .directory { live.insert(parent) }
                }
                let recorder = HistoryRecorder(context: context)
                let snapshot = try recorder.snapshot(applying: updates, live: live)
                if snapshot.changed {
                    commitID = try recorder.commit(snapshot, changes: changes, sequence: try context.index.sequence() + Int64(rows.count),
                                                   trailers: "Sync-Pulled-From: \(peer)\n")
                }
            }
            outcome.commit = commitID?.hex
            try context.index.record(changes: rows, commit: commitID?.hex, meta: meta)
        } catch let e as GitError {
            throw SyncError.history(path: context.folder.historyPath, message: e.description)
        }
    }
}

let currentUmask: mode_t = {
    let m = umask(0o022)
    umask(m)
    return m
}()
