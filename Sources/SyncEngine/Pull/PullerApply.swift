import Foundation
import SyncCore
import SyncProtocol

/// Applying one row of a batch, as `Reconcile.decide` said: every change goes through the
/// folder writer, every row to record goes into `batch`.
extension Puller {
    /// What one batch has done so far: the rows to record together at its end, the paths whose
    /// history changes, and the lowest sequence left for later.
    struct Batch {
        let wire: [WireEntry]
        /// No later batch of this pull follows.
        let last: Bool
        var records: [FileEntry] = []
        var touched: Set<RelativePath> = []
        var firstHeld: Int64?
        /// Local files of at least `Puller.stageMaxSize` that this batch deletes, by content id, with
        /// the peer's deletion row and the version it takes: a new path with that content moves one here.
        var vanishing: [String: [(row: FileEntry, version: VersionVector)]] = [:]
        /// Paths moved to a new path of the batch (their deletion is recorded with the move).
        var movedAway: Set<RelativePath> = []
    }

    /// Leaves `e` for the next pull (the stored sequence stays below it).
    func hold(_ e: FileEntry, _ why: String) {
        outcome.problems.append(PullProblem(.held, e.path.rawValue, why))
        batch.firstHeld = min(batch.firstHeld ?? e.sequence, e.sequence)
        heldForGood = true
    }

    /// Puts `e` off to the end of the pull (the stored sequence stays below it meanwhile).
    func postpone(_ e: FileEntry) {
        guard let w = batch.wire.first(where: { $0.path == e.path.rawValue }) else { return hold(e, "directory not empty here") }
        deferred.append(w)
        batch.firstHeld = min(batch.firstHeld ?? e.sequence, e.sequence)
    }

    /// What a dry run says it would do.
    func preview(_ decision: Reconcile.Decision, _ r: FileEntry, local: FileEntry?) {
        switch decision {
        case .skip, .keepLocal: break
        case .take: outcome.changes.append(Change(status: r.deleted ? .deleted : (local == nil || local!.deleted ? .added : .modified), path: r.path.rawValue))
        case .conflict(_, let copy, _):
            outcome.changes.append(Change(status: .modified, path: r.path.rawValue))
            outcome.conflicts.append((r.path.rawValue, copy.rawValue))
        }
    }

    /// The remote version replaces the local one (or its absence), recorded with `v`.
    func take(_ r: FileEntry, local: FileEntry?, version v: VersionVector) throws {
        if let why = stageFailures.removeValue(forKey: r.path) { hold(r, why); return }
        // Moved to the new path of a rename: the deletion was recorded then.
        if r.deleted, batch.movedAway.contains(r.path) { return }
        // A new directory may be there already: made for files fetched ahead into it.
        var madeAhead = false
        if r.kind == .directory && !r.deleted && (local == nil || local!.deleted) {
            madeAhead = try observe(r.path)?.kind == .directory
        }
        guard try madeAhead || unchanged(r.path, local) else { hold(r, "changed here meanwhile"); return }
        if let l = local, !l.deleted, !r.deleted, l.sameContent(as: r) {
            var same = l; same.version = v; batch.records.append(same); return
        }
        if let l = local, !l.deleted, l.kind == .directory, !r.deleted, r.kind != .directory,
           try !writer.removeDirectory(r.path) {
            // The peer made a file of a directory that holds what it has not seen
            // here: once no later batch of this pull may still empty it (the row
            // is put off to the end), the directory keeps its path and the file
            // goes beside it, as a conflict copy.
            guard batch.last else { postpone(r); return }
            let copy = Reconcile.conflictCopy(of: r.path, mtimeNs: r.mtimeNs,
                                              node: Reconcile.author(of: r.version, against: l.version),
                                              tag: r.hash.map { String($0.prefix(7)) })
            if let there = try observe(copy) {
                guard there.kind == r.kind, let row = try locals[copy] ?? context.index.entry(copy),
                      !row.deleted, row.hash == r.hash else { hold(r, "conflict copy \(copy.rawValue) exists already"); return }
            } else {
                var row = try materialize(r, at: copy, basis: nil, replacing: nil)
                row.path = copy
                batch.records.append(row)
                batch.touched.insert(copy)
                outcome.changes.append(Change(status: .added, path: copy.rawValue))
            }
            var kept = l
            kept.version = v.merged(with: l.version).bumped(by: me)
            batch.records.append(kept)
            batch.touched.insert(r.path)
            outcome.conflicts.append((r.path.rawValue, copy.rawValue))
            return
        }
        if r.deleted {
            if let l = local, !l.deleted, l.kind == .directory, try !writer.removeDirectory(l.path) {
                // What is left in it may go in a later batch of this pull (the row
                // is put off to the end); then it holds what the peer has not seen:
                // the directory stays, with a version that brings it back to the peer.
                guard batch.last else { postpone(r); return }
                var kept = l
                kept.version = v.merged(with: l.version).bumped(by: me)
                batch.records.append(kept)
                batch.touched.insert(r.path)
                return
            }
            if let l = local, !l.deleted {
                try remove(l)
                outcome.changes.append(Change(status: .deleted, path: r.path.rawValue))
            }
            var t = r; t.version = v; t.hash = nil; t.size = 0; t.mtimeNs = 0; t.ctimeNs = 0; t.inode = 0
            batch.records.append(t)
        } else {
            var row = try materialize(r, at: r.path, basis: local, replacing: local)
            row.version = v
            batch.records.append(row)
            if r.kind != .directory {
                outcome.changes.append(Change(status: local == nil || local!.deleted ? .added : .modified, path: r.path.rawValue))
            }
        }
        batch.touched.insert(r.path)
    }

    /// Concurrent versions: the winner keeps the path, the loser is kept beside it as `named`.
    func settleConflict(_ r: FileEntry, local: FileEntry?, remoteWins: Bool, copy named: RelativePath, version v: VersionVector) throws {
        guard try unchanged(r.path, local) else { hold(r, "changed here meanwhile"); return }
        let l = local!
        // The copy may be here already, from a peer that met the same conflict: then the
        // losing version is kept, and only the path is settled. Its name holds the losing
        // content's id: a name taken by other content is never replaced (the row waits).
        let loser = remoteWins ? l : r
        func held(_ p: RelativePath) throws -> FileEntry? {
            try batch.records.last(where: { $0.path == p }) ?? locals[p] ?? context.index.entry(p)
        }
        let copy = named
        if try observe(copy) != nil {
            guard let there = try held(copy), !there.deleted, there.hash == loser.hash else {
                hold(r, "conflict copy \(copy.rawValue) exists already"); return
            }
            if remoteWins {
                var row = try materialize(r, at: r.path, basis: l, replacing: l)
                row.version = v
                batch.records.append(row)
            } else {
                var kept = l
                kept.version = v
                batch.records.append(kept)
            }
            outcome.changes.append(Change(status: .modified, path: r.path.rawValue))
            batch.touched.insert(r.path)
            return
        }
        if remoteWins {
            do { try writer.moveAside(r.path, to: copy, expecting: l) } catch let c as FolderWriter.Changed {
                throw Held(reason: c.path == copy ? "conflict copy \(copy.rawValue) exists already" : "changed here meanwhile")
            }
            var c = l
            c.path = copy
            if let o = try observe(copy) { c.ctimeNs = o.ctimeNs; c.inode = o.inode }
            batch.records.append(c)
            batch.touched.insert(copy)
            var row = try materialize(r, at: r.path, basis: c, replacing: nil)
            row.version = v
            batch.records.append(row)
        } else {
            var row = try materialize(r, at: copy, basis: l, replacing: nil)
            row.path = copy
            batch.records.append(row)
            batch.touched.insert(copy)
            var kept = l
            kept.version = v
            batch.records.append(kept)
        }
        outcome.changes.append(Change(status: .modified, path: r.path.rawValue))
        outcome.changes.append(Change(status: .added, path: copy.rawValue))
        outcome.conflicts.append((r.path.rawValue, copy.rawValue))
        batch.touched.insert(r.path)
    }
}
