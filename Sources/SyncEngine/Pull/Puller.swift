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
    /// Rows asked for in one index answer, applied and recorded as one batch (the peer may send
    /// fewer: an answer holds at most half of `Limits.maxBatchBytes`).
    var batchSize = 2500
    public var progress: ((PullProgress) -> Void)?
    /// Given each batch's changes once it is recorded (or previewed), which the outcome then no
    /// longer holds: a pull of a million files does not keep a million change lines.
    public var onChanges: (([Change]) -> Void)?
    /// Asked between batches: true stops the pull there (what was recorded stays).
    var cancelled: () -> Bool = { false }
    var state = PullProgress()
    var outcome = PullOutcome()
    /// Delta transfers are worth a signature only above this size.
    static let deltaThreshold: Int64 = 64 << 10
    /// Files up to this size that must come whole from the peer are fetched ahead, a window at a
    /// time: the requests go out together, the answers go straight into temporary files, and one
    /// syncfs makes the window durable before any of them is renamed into place.
    static let stageMaxSize: Int64 = 1 << 20
    /// A window of at most this many files is made durable file by file (see `stage`).
    static let fsyncEachUpTo = 8
    /// A file larger than this comes in ranges this large (see `whole`).
    static let rangeSize: Int64 = 8 << 20
    /// Asked between two ranges of a big file: true stops its transfer there (`Yielded`), so that
    /// what waits (a small change told meanwhile) goes first; the next pull resumes it.
    var shouldYield: () -> Bool = { false }
    /// Asked between two batches: true stops the pull there (`Yielded`; what was applied is recorded).
    var yieldBetweenBatches: () -> Bool = { false }
    /// Files larger than `rangeSize` that are not here already are left for the next pull (the
    /// stored sequence stays below them): the pull that follows a `Yielded` brings the rest first.
    var deferLarge = false
    /// A big transfer stopped for other work (see `shouldYield`); what came is kept to resume.
    struct Yielded: Error {}
    /// A big file left for the next pull (see `deferLarge`).
    struct Deferred: Error {}
    /// Whether a row was left for the next pull by `deferLarge`.
    public private(set) var deferredLarge = false
    /// The most files a window of fetching ahead asks for (tests make it small).
    var windowFiles = 512
    /// The most files of a window that is waited for as soon as it is asked for (a batch's first).
    static let firstWindowFiles = 64
    static let windowBytes: Int64 = 32 << 20
    /// Paths whose content waits, verified and durable, in `.sync-tmp-<hash>` beside them.
    var staged: [RelativePath: String] = [:]
    /// The content of the small ones (up to `keptInMemory` bytes), for their history blobs.
    var stagedBytes: [RelativePath: [UInt8]] = [:]
    static let keptInMemory: Int64 = 16 << 10
    /// The window asked for ahead while the rows before it are applied (see `stage`).
    var ahead: Window?
    /// The first range of the next row's file, asked for while the file before it came (see
    /// `askNextAhead`).
    var nextAhead: NextAhead?
    /// Files whose first ranges were asked for ahead and read by their rows (for tests).
    var nextAheadTaken = 0
    /// The next batch's rows, asked for behind the last window of the batch before (see
    /// `askIndexAhead`), and where that batch starts while the peer has more (set before a batch is applied).
    var indexAhead: IndexAhead?
    var nextSince: Int64?
    /// Batches whose rows were asked for ahead and taken (for tests).
    var indexAheadTaken = 0
    /// The batch's rows in the order they are applied, the one being applied, and the next whose
    /// application begins with a window of fetching ahead (for `askNextAhead`).
    var rows: [FileEntry] = []
    var row = 0
    var stagedUpTo = 0
    /// Noted temporaries (as `transfers` lines) this pull renamed into place since they were noted,
    /// up to `renamedTransfersKept` of them (a pull of a million files would hold a million
    /// lines: past the bound, the end of the pull tries to unlink the rest as before).
    var renamedTransfers: Set<String> = []
    var renamedTransfersKept = 50_000
    /// Paths whose fetch ahead failed, with the peer's reason.
    var stageFailures: [RelativePath: String] = [:]
    /// Chunk manifests of the files above max-blob placed in this batch, by content id: kept once
    /// the batch's rows are recorded.
    var manifests: [String: [UInt8]] = [:]
    /// Stores received files in history beside the transfers (nil in a dry run).
    lazy var blobs: BlobWriter? = dryRun ? nil
        : try? BlobWriter(historyPath: context.folder.historyPath, root: root, inMemory: Self.stageMaxSize)
    /// This batch's rows of the local index, by path.
    var locals: [RelativePath: FileEntry] = [:]
    /// Directories whose entries changed in this batch: fsynced once before the batch is recorded.
    var dirtyDirectories: Set<RelativePath?> = []
    /// What this batch did to the folder, undone when it cannot be recorded. Set while a batch
    /// is applied, and then the writer keeps the folder's directories open in `directories`.
    var journal: Journal?
    /// The directories the batch under way has opened (cleared when it ends).
    let directories = DirectoryCache()
    /// Rows put off to the end of the pull: a directory to remove or to replace by a file that
    /// is not empty, which a later batch may still empty. Decided after the last batch.
    var deferred: [WireEntry] = []
    /// A row of this pull was held (left for the next pull, the stored sequence kept below it).
    var heldForGood = false
    /// What the batch being applied has done so far.
    var batch = Batch(wire: [], last: true)
    /// Called right after a file is renamed into place (tests write to it there).
    var afterPlace: ((RelativePath) -> Void)?
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
        // Two windows of files fetched ahead hold a descriptor per file.
        FileSystem.raiseDescriptorLimit(to: 4 * windowFiles + 1024)
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
        // However the pull ends, the rows asked ahead are read: the link stays in step.
        defer { try? discardIndexAhead() }
        while true {
            var batch = try indexBatch(since: since)
            if !restarted, let knownEpoch, knownEpoch != batch.epoch, since > 0 {
                // The peer's index was made anew: its sequence numbers mean something else now.
                since = 0; restarted = true
                continue
            }
            restarted = true
            // A big file last in a batch that has more, with content a file here holds: maybe a
            // rename whose deletion is the next row (peers record the two side by side). It waits
            // for the next batch, so that the file is moved there instead of copied here.
            if batch.more, batch.entries.count > 1, let tail = batch.entries.last, !tail.deleted, tail.kind == "file",
               tail.size >= Self.stageMaxSize, let h = tail.hash, (try? index.files(withHash: h).isEmpty) == false {
                batch.entries.removeLast()
            }
            outcome.peerSequence = batch.sequence
            let last = batch.entries.map(\.sequence).max() ?? since
            let upTo = batch.more ? last : max(last, batch.sequence)
            // The next batch starts there: its rows are asked for behind this batch's last window.
            nextSince = batch.more ? upTo : nil
            // After a batch left rows for later, the stored sequence stays below them (apply
            // stored it so); later batches are applied but store none.
            if try apply(batch.entries, storing: held ? nil : (epochKey, batch.epoch, seqKey, upTo), last: !batch.more) != nil { held = true }
            since = upTo
            // Between two batches of a long pull: news of another folder goes first (this pull
            // then starts again from what it stored).
            if batch.more && !cancelled() && yieldBetweenBatches() { throw Yielded() }
            if !batch.more || cancelled() {
                // Rows put off to the end (a directory a later batch might have emptied) are
                // decided now; the stored sequence, kept below them, moves past them when no
                // row was held for another reason.
                if !deferred.isEmpty && !dryRun && !cancelled() {
                    let rows = deferred
                    deferred = []
                    nextSince = nil
                    _ = try apply(rows, storing: heldForGood ? nil : (epochKey, batch.epoch, seqKey, upTo), last: true)
                }
                break
            }
        }
        // Every row of the peer is in: what earlier transfers left to resume is superseded.
        if !dryRun && !held && !cancelled() { try dropTransfers() }
        outcome.sequence = try index.sequence()
        if !dryRun && !cancelled() { try fetchHistory() }
        return outcome
    }

    /// The peer's authored histories, after its rows (see `HistoryFetch`). What goes wrong there
    /// is told and the pull stands, unless the link broke (a peer that breaks the protocol).
    func fetchHistory() throws {
        do {
            outcome.history = try HistoryFetch(context: context, remote: remote, me: me).run()
        } catch let e as ProtocolError {
            throw e
        } catch let e as RemoteError {
            outcome.history.problems.append("history: the peer answered: \(e.message)")
        } catch {
            outcome.history.problems.append("history: \(error)")
        }
    }

    /// Where this node notes the temporaries of pulls (a transfer kept to resume, `.sync-tmp-<content
    /// id>`, and the writer's own), one path a line, so that what a cut or killed pull left goes
    /// once nothing wants it.
    var transfersPath: String { context.folder.directory + "/transfers" }

    /// Notes a temporary a transfer writes, before it writes it: a kill leaves nothing unnoted.
    func noteTransfer(_ tmp: RelativePath) {
        noteTransfers([tmp])
    }

    /// Notes several temporaries in one write (a window of files fetched ahead).
    func noteTransfers(_ temps: [RelativePath]) {
        guard !temps.isEmpty else { return }
        let lines = temps.map { PathQuoting.quote($0.rawValue) }
        if !renamedTransfers.isEmpty { renamedTransfers.subtract(lines) }
        POSIX.append(line: lines.joined(separator: "\n"), to: transfersPath)
    }

    /// Notes that the temporary `tmp` became a file of the folder: nothing of it is left to drop.
    func transferRenamed(_ tmp: RelativePath) {
        guard renamedTransfers.count < renamedTransfersKept else { return }
        renamedTransfers.insert(PathQuoting.quote(tmp.rawValue))
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
        // The lines of one window share a directory: it is walked to once for all of them.
        let directories = DirectoryCache(limit: 4)
        while getline(&line, &capacity, f) > 0, let l = line {
            // A line is a quoted path (no newline in it) and its newline.
            var text = String(cString: l)
            while text.hasSuffix("\n") { text.removeLast() }
            // Renamed into place by this pull (most of them): no unlink to try.
            if renamedTransfers.contains(text) { continue }
            directories.settle()
            guard let p = PathQuoting.unquote(Substring(text)).flatMap({ try? RelativePath($0) }), p.name.hasPrefix(Scanner.temporaryPrefix),
                  let dir = try? Beneath.directory(p.parent, in: root, cache: directories) else { continue }
            unlinkat(dir.raw, p.name, 0)
        }
        free(line)
        fclose(f)
        truncate(transfersPath, 0)
        renamedTransfers = []
    }

    static func applyingPath(_ folder: Folder) -> String { folder.directory + "/applying" }

    /// The paths a pull is writing into `folder` now (none when no batch is being applied: the
    /// list is read only while the folder's write lock is held).
    public static func applying(_ folder: Folder) -> Set<RelativePath> {
        guard let data = FileManager.default.contents(atPath: applyingPath(folder)),
              (try? FileLock(path: folder.lockPath, wait: false)) == nil else { return [] }
        return Set(String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            PathQuoting.unquote($0).flatMap { try? RelativePath($0) }
        })
    }

    struct Held: Error { let reason: String }
    struct Refused: Error { let reason: String }

    /// Applies one batch; returns the lowest sequence left for a later pull, if any.
    /// `last`: no later batch of this pull follows.
    func apply(_ wire: [WireEntry], storing meta: (String, String, String, Int64)?, last: Bool = true) throws -> Int64? {
        _ = blobs?.finish() // nothing of an earlier batch that failed may be taken for this one's
        let journal = dryRun ? nil : Journal()
        self.journal = journal
        // Whatever this batch asks ahead is read before any other request goes out, and dropped
        // (read and thrown away) if the batch ends before its rows.
        remote.beforeRequest = { [unowned self] in
            try self.collectAhead()
            try self.readIndexAhead()
            try self.discardNextAhead()
        }
        defer {
            remote.beforeRequest = nil
            try? discardAhead()
            try? discardNextAhead()
            rows = []
            self.journal = nil
            directories.clear()
        }
        defer { handChanges() }
        var entries: [FileEntry] = []
        let scanner = context.scanner()
        for w in wire {
            do {
                let e = try validate(w, scanner)
                // Refuses a path through a link before anything looks at it (a path through a
                // file is absent: this batch may yet make that file a directory).
                _ = try observe(e.path)
                entries.append(e)
            } catch let r as Refused {
                outcome.problems.append(PullProblem(.refused, w.path, r.reason))
            }
        }
        state.entriesTotal += entries.count
        let changeStart = outcome.changes.count
        batch = Batch(wire: wire, last: last)

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
        // The index does not change until the batch is recorded: its rows are read once.
        locals = try context.index.entries(ordered.map(\.path))
        // At most this much content to bring (some may be found here, or come as a delta).
        state.bytesTotal += ordered.reduce(Int64(0)) { sum, r in
            !r.deleted && r.kind == .file && locals[r.path]?.hash != r.hash ? sum + r.size : sum
        }
        // Files this batch deletes that a new path may take by a rename, not a copy.
        for r in ordered where r.deleted && !dryRun {
            guard let l = locals[r.path], !l.deleted, l.kind == .file, let h = l.hash, l.size >= Self.stageMaxSize,
                  case .take(let v) = Reconcile.decide(local: l, remote: r, resolver: me) else { continue }
            batch.vanishing[h, default: []].append((r, v))
        }
        // The paths this batch writes, for sync status (changes on their way in are not pending).
        if !dryRun { try? FileSystem.writeAtomically(Array(ordered.map { PathQuoting.quote($0.path.rawValue) + "\n" }.joined().utf8),
                                                     to: Self.applyingPath(context.folder), mode: 0o600, durable: false) }
        defer { if !dryRun { unlink(Self.applyingPath(context.folder)) } }
        stagedUpTo = 0
        rows = ordered
        do {
            for (i, r) in ordered.enumerated() {
                row = i
                // Between two rows nothing borrows a directory: those dropped meanwhile are closed.
                directories.settle()
                if !dryRun && i == stagedUpTo { stagedUpTo = try stage(ordered, from: i) }
                state.entriesDone += 1
                state.currentPath = r.path.rawValue
                progress?(state)
                let local = locals[r.path]
                let decision = Reconcile.decide(local: local, remote: r, resolver: me)
                if dryRun { preview(decision, r, local: local); continue }
                do {
                    switch decision {
                    case .skip:
                        continue
                    case .keepLocal(let v):
                        var l = local!
                        l.version = v
                        batch.records.append(l)
                        batch.touched.insert(r.path)
                    case .take(let v):
                        try take(r, local: local, version: v)
                    case .conflict(let remoteWins, let copy, let v):
                        try settleConflict(r, local: local, remoteWins: remoteWins, copy: copy, version: v)
                    }
                } catch let h as Held {
                    hold(r, h.reason)
                } catch is Deferred {
                    batch.firstHeld = min(batch.firstHeld ?? r.sequence, r.sequence)
                    heldForGood = true
                    deferredLarge = true
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
            try settle(journal) { try record(batch.records, touched: batch.touched, changes: foldRenames(from: changeStart, rows: batch.records), meta: []) }
            throw error
        }
        guard let journal else { return batch.firstHeld }
        let sent = Dictionary(entries.map { ($0.path, $0.version) }, uniquingKeysWith: { a, _ in a })
        let (records, firstHeld) = (batch.records, batch.firstHeld)
        outcome.rowsRecorded += records.count
        outcome.foreignRows += records.filter { sent[$0.path] != $0.version }.count
        discardStaged()
        try settle(journal) {
            try record(records, touched: batch.touched, changes: foldRenames(from: changeStart, rows: records), meta: meta.map { m in
                let upTo = firstHeld.map { min($0 - 1, m.3) } ?? m.3
                return [(m.0, m.1), (m.2, String(upTo))]
            } ?? [])
        }
        return firstHeld
    }

    /// Hands the changes gathered so far to `onChanges`, if set, keeping only their count.
    func handChanges() {
        guard let onChanges, !outcome.changes.isEmpty else { return }
        onChanges(outcome.changes)
        outcome.handedChanges += outcome.changes.count
        outcome.changes.removeAll()
    }

    /// Makes the batch durable and records it with `record`; when that fails, the folder is put
    /// back as it was before the batch: a batch that cannot be recorded changes nothing.
    func settle(_ journal: Journal, record: () throws -> Void) throws {
        do {
            try syncDirectories()
            try beforeRecord?()
            try record()
        } catch {
            // Walked anew: the batch's own changes may have left a held directory elsewhere.
            directories.clear()
            let left = journal.undo(writer.uncached)
            for p in left { outcome.problems.append(PullProblem(.warning, p.rawValue, "changed here meanwhile; not put back after the batch failed")) }
            try? syncDirectories()
            throw error
        }
        for copy in journal.settle(writer, node: me.short) {
            outcome.problems.append(PullProblem(.warning, copy.rawValue, "written here while the pull replaced its file: kept as this copy"))
        }
    }
}

let currentUmask: mode_t = {
    let m = umask(0o022)
    umask(m)
    return m
}()
