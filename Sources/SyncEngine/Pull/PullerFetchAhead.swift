import Foundation
import SyncCore
import SyncDelta
import SyncGit
import SyncProtocol

/// Files of a batch asked for together, whose answers are read in order (`Puller.collect`).
final class Window {
    struct File { let entry: FileEntry; let local: FileEntry?; let fd: Int32; let tmp: String; let id: UInt32 }
    /// The rows of the batch it looked at: `start..<end`.
    let start: Int, end: Int
    private(set) var files: [File]
    /// Read whole: nothing of it is on the link any more.
    var collected = false

    init(start: Int, end: Int, files: [File]) { self.start = start; self.end = end; self.files = files }

    /// Closes its temporaries (what `collect` verified stays on disk, for its row).
    func close() {
        for f in files where f.fd >= 0 { Glibc.close(f.fd) }
        files = []
    }
    deinit { close() }
}

/// Fetching ahead: the small files a batch must fetch whole are asked for together, a window at
/// a time, and wait verified and durable in temporary files until their row is applied. The next
/// window is asked for before one is read, so that the peer reads and sends it while this side
/// writes and applies the rows before it; any other request first reads what is asked ahead (answers
/// come in order), through `RemoteFolder.beforeRequest`.
extension Puller {
    /// Fetches ahead the small files from `ordered[start...]` that must come whole from the peer,
    /// up to a window's worth, and asks for the next window; returns the index where it starts.
    func stage(_ ordered: [FileEntry], from start: Int) throws -> Int {
        let window: Window
        // A window asked for now is waited for at once: a short one, so that this side has rows to
        // apply while the peer sends the next (a batch began with a wait for a whole window).
        if let w = ahead, w.start == start { window = w } else {
            try discardAhead()
            window = try ask(ordered, from: start, files: min(windowFiles, Self.firstWindowFiles))
        }
        ahead = nil
        // The next window is asked before this one is read: the peer reads and sends it while this
        // side writes this one's files and applies their rows (its answers come after this one's).
        if window.end < ordered.count { ahead = try ask(ordered, from: window.end) }
        // Behind the batch's last window, the next batch's rows.
        if (ahead?.end ?? window.end) == ordered.count { try askIndexAhead() }
        try collect(window)
        return window.end
    }

    /// Reads the window asked for ahead, if any, before another request goes out.
    func collectAhead() throws {
        if let w = ahead, !w.collected { try collect(w) }
    }

    /// Drops the window asked for ahead: its temporaries go, and what the peer sends for it is
    /// read and thrown away, so that the link stays in step.
    func discardAhead() throws {
        guard let w = ahead else { return }
        ahead = nil
        defer { w.close() }
        for f in w.files where f.fd >= 0 { unlinkTemporary(f.tmp, of: f.entry.path) }
        guard !w.collected else { return }
        w.collected = true
        let sink = try Descriptor(opening: "/dev/null", O_WRONLY)
        for f in w.files { _ = try? remote.receiveContent(f.id, into: sink.raw, limit: f.entry.size) }
    }

    private func unlinkTemporary(_ tmp: String, of path: RelativePath) {
        if let dir = try? writer.directory(path.parent) { unlinkat(dir.raw, tmp, 0) }
    }

    /// Picks the files of the window from `ordered[start...]` and asks the peer for them.
    func ask(_ ordered: [FileEntry], from start: Int, files: Int? = nil) throws -> Window {
        let most = files ?? windowFiles
        var candidates: [(FileEntry, FileEntry?)] = []
        var hashes: Set<String> = []
        var bytes: Int64 = 0
        var end = start
        while end < ordered.count, candidates.count < most, bytes < Self.windowBytes {
            let r = ordered[end]
            end += 1
            guard r.kind == .file, !r.deleted, r.size <= Self.stageMaxSize, let hash = r.hash, !hashes.contains(hash) else { continue }
            let local = locals[r.path]
            guard case .take = Reconcile.decide(local: local, remote: r, resolver: me) else { continue }
            if let l = local, !l.deleted {
                if l.sameContent(as: r) { continue }
                if l.kind == .file, l.size >= Self.deltaThreshold, r.size >= Self.deltaThreshold { continue } // a delta is cheaper
            }
            if let id = try? ObjectID(hex: hash), (try? context.history)?.contains(id) == true { continue }
            hashes.insert(hash)
            bytes += r.size
            candidates.append((r, local))
        }
        // Content a file here has is copied from it instead (one read for the window).
        let here = try context.index.heldHashes(candidates.map { $0.0.hash! })
        candidates.removeAll { here.contains($0.0.hash!) }
        guard !candidates.isEmpty else {
            let none = Window(start: start, end: end, files: [])
            none.collected = true
            return none
        }
        // Noted together, before any of them is made.
        noteTransfers(candidates.compactMap { r, _ in
            let tmp = Scanner.temporaryPrefix + r.hash!
            return try? r.path.parent.map { try $0.appending(tmp) } ?? RelativePath(tmp)
        })
        // The requests first, in one write: the peer reads and sends while the temporaries are made.
        var ids: [UInt32] = []
        try remote.session.link.gather {
            for (r, _) in candidates { ids.append(try remote.requestContent(r.path.rawValue, hash: r.hash!)) }
        }
        var files: [Window.File] = []
        for ((r, local), id) in zip(candidates, ids) {
            let tmp = Scanner.temporaryPrefix + r.hash!
            // One that cannot be made here has its answer read and dropped; its row fetches it
            // again when it is applied, and says why it could not be written.
            var fd: Int32 = -1
            if let dir = try? writer.directory(r.path.parent, create: true) {
                fd = openat(dir.raw, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            // The window owns the descriptor from here.
            files.append(Window.File(entry: r, local: local, fd: fd, tmp: tmp, id: id))
        }
        return Window(start: start, end: end, files: files)
    }

    /// Reads the answers of `window` into its temporaries, verifies each against its hash, makes
    /// them durable, and leaves them for their rows (`staged`).
    func collect(_ window: Window) throws {
        guard !window.collected else { return }
        window.collected = true
        defer { window.close() }
        var ready: [Window.File] = []
        var kept: [RelativePath: [UInt8]] = [:]
        // Where the answers for temporaries that could not be made go.
        var sink: Int32 = -1
        defer { if sink >= 0 { Glibc.close(sink) } }
        do {
            for f in window.files {
                guard f.fd >= 0 else {
                    if sink < 0 { sink = open("/dev/null", O_WRONLY | O_CLOEXEC) }
                    do { try remote.receiveContent(f.id, into: sink, limit: f.entry.size) } catch is RemoteError {}
                    continue
                }
                let matches: Bool
                var bytes: [UInt8]? = f.entry.size <= Self.keptInMemory ? [] : nil
                do { matches = try receive(f.id, f.entry, offset: 0, into: f.fd, keeping: &bytes) } catch let e as RemoteError {
                    unlinkTemporary(f.tmp, of: f.entry.path)
                    stageFailures[f.entry.path] = "peer: " + e.message
                    continue
                }
                guard matches else {
                    unlinkTemporary(f.tmp, of: f.entry.path)
                    stageFailures[f.entry.path] = "content from peer does not match its hash"
                    continue
                }
                guard let dir = try? writer.directory(f.entry.path.parent) else {
                    stageFailures[f.entry.path] = "its directory went away meanwhile"
                    continue
                }
                setModeAndTime(f.fd, f.entry, dir: dir.raw, target: f.entry.path, current: f.local)
                ready.append(f)
                kept[f.entry.path] = bytes
            }
        } catch {
            // The link failed: nothing of this window is kept (small files are fetched again).
            for f in window.files where f.fd >= 0 { unlinkTemporary(f.tmp, of: f.entry.path) }
            throw error
        }
        // A few files: an fsync each (a flush of the whole file system would also wait for what
        // other writers left dirty, such as a big transfer beside it). Many: one flush for the window.
        if ready.count <= Self.fsyncEachUpTo {
            for f in ready where fsync(f.fd) != 0 {
                throw SyncError.io(path: context.absolute(f.entry.path), operation: "fsync", errno: errno)
            }
        } else if let first = ready.first, !FileSystem.syncFileSystem(of: first.fd) {
            throw SyncError.io(path: root, operation: "syncfs", errno: errno)
        }
        for f in ready {
            staged[f.entry.path] = f.tmp
            stagedBytes[f.entry.path] = kept[f.entry.path]
        }
    }

    /// Removes content fetched ahead that was not used (its path was held or refused meanwhile).
    func discardStaged() {
        for (path, tmp) in staged { unlinkTemporary(tmp, of: path) }
        staged = [:]
        stagedBytes = [:]
        stageFailures = [:]
    }

    /// Makes the batch's renames and removals durable before the batch is recorded: the
    /// directories this puller changed and those its writer noted in the journal.
    func syncDirectories() throws {
        dirtyDirectories.formUnion(journal?.dirtyDirectories ?? [])
        journal?.dirtyDirectories = []
        for d in dirtyDirectories {
            guard let fd = try? Beneath.directory(d, in: root) else { continue }
            guard fsync(fd.raw) == 0 else { throw SyncError.io(path: d.map(context.absolute) ?? root, operation: "fsync", errno: errno) }
        }
        dirtyDirectories = []
    }
}

/// The first ranges of a file too large to fetch ahead, asked for before its row is applied.
struct NextAhead {
    let path: RelativePath
    let hash: String
    /// The requests, with the length each asked for (0: to the end of the file).
    let ranges: [(id: UInt32, length: Int64)]
    /// The file's size.
    let size: Int64
    /// Where the ranges asked for end.
    var end: Int64 { ranges.last!.length == 0 ? size : ranges.reduce(0) { $0 + $1.length } }
}

/// Asking the next file ahead: files too large for windows come one request (or one range) at a
/// time, and between two of them the peer would wait while this side makes the first durable and
/// puts it in place. As the last range of a row's file is asked for, the first ranges of the next
/// row's are asked for too (as many as a transfer keeps in flight), when that row is sure to fetch
/// its file whole from the peer: a new path whose content this node lacks. The answers wait on the
/// link (read ahead by the link's thread) until that row reads them; any other request first reads
/// and drops them (answers come in order), as does the end of the batch.
extension Puller {
    func askNextAhead(after r: FileEntry) throws {
        guard nextAhead == nil, !deferLarge, rows.indices.contains(row), rows[row].path == r.path,
              row + 1 < rows.count, row + 1 != stagedUpTo else { return }
        let n = rows[row + 1]
        guard n.kind == .file, !n.deleted, n.size > Self.stageMaxSize, let hash = n.hash, staged[n.path] == nil,
              batch.vanishing[hash] == nil else { return }
        let local = locals[n.path]
        guard local == nil || local!.deleted, case .take = Reconcile.decide(local: local, remote: n, resolver: me),
              (try? context.index.files(withHash: hash).isEmpty) == true,
              let id = try? ObjectID(hex: hash), (try? context.history)?.contains(id) == false else { return }
        // As many ranges as a transfer keeps in flight (`whole`), in one write.
        var ranges: [(id: UInt32, length: Int64)] = []
        var asked: Int64 = 0
        try remote.session.link.gather {
            while ranges.count < 2 && asked < n.size {
                let length = n.size - asked > Self.rangeSize ? Self.rangeSize : 0
                ranges.append((try remote.requestContent(n.path.rawValue, hash: hash, offset: asked, length: length), length))
                asked = length > 0 ? asked + length : n.size
            }
        }
        nextAhead = NextAhead(path: n.path, hash: hash, ranges: ranges, size: n.size)
    }

    /// The ranges asked ahead for `r`, if they are `r`'s (what the link holds before it is read first).
    func takeNextAhead(_ r: FileEntry) throws -> NextAhead? {
        guard let a = nextAhead, a.path == r.path, a.hash == r.hash else { return nil }
        try collectAhead()
        nextAhead = nil
        nextAheadTaken += 1
        return a
    }

    /// Reads the ranges asked ahead, if any, and drops them.
    func discardNextAhead() throws {
        guard let a = nextAhead else { return }
        nextAhead = nil
        let sink = try Descriptor(opening: "/dev/null", O_WRONLY)
        for (id, length) in a.ranges {
            do { try remote.receiveContent(id, into: sink.raw, limit: length > 0 ? length : a.size) } catch is RemoteError {}
        }
    }
}

/// Rows of the next batch asked for behind the last window of a batch (answers come in order).
struct IndexAhead {
    /// The sequence they follow, and the request.
    let since: Int64
    let id: UInt32
    /// The answer, once read: a refusal the peer sent is kept for the batch that takes it.
    var answer: Result<RemoteFolder.IndexBatch, RemoteError>?
}

/// Asking the next batch ahead: between two batches the peer would wait for this side to record
/// the first, and this side for the peer to read the rows of the second from its index (about
/// 50 ms for 2,500 rows). Asked behind the last window of a batch, they are read after it: by the
/// next batch, or by any other request of this batch first (through `RemoteFolder.beforeRequest`),
/// or, when the pull ends before, read and dropped.
extension Puller {
    func askIndexAhead() throws {
        guard indexAhead == nil, let since = nextSince else { return }
        indexAhead = IndexAhead(since: since, id: try remote.requestIndex(since: since, limit: batchSize))
    }

    /// Reads the rows asked ahead, if they are not read yet. When the link fails reading them,
    /// nothing is left to read: the pull's end does not wait on the link a second time.
    func readIndexAhead() throws {
        guard var a = indexAhead, a.answer == nil else { return }
        do { a.answer = .success(try remote.readIndex(a.id, since: a.since, limit: batchSize)) } catch let e as RemoteError {
            a.answer = .failure(e)
        } catch {
            indexAhead = nil
            throw error
        }
        indexAhead = a
    }

    /// The rows after `since`: those asked ahead when they follow it, else asked for now.
    func indexBatch(since: Int64) throws -> RemoteFolder.IndexBatch {
        if let a = indexAhead, a.since == since {
            try readIndexAhead()
            let answer = indexAhead!.answer!
            indexAhead = nil
            indexAheadTaken += 1
            return try answer.get()
        }
        try discardIndexAhead()
        return try remote.index(since: since, limit: batchSize)
    }

    /// Reads the rows asked ahead, if any, and drops them.
    func discardIndexAhead() throws {
        guard indexAhead != nil else { return }
        defer { indexAhead = nil }
        try readIndexAhead()
    }
}
