import Foundation
import SyncCore
import SyncDelta
import SyncGit
import SyncProtocol

/// Recording a batch: the index rows and a history commit (HistoryRecorder) together.
extension Puller {
    /// The batch's changes from `start` on, with a deletion and an addition of the same content
    /// shown as one rename (as the Committer shows them); returns them.
    func foldRenames(from start: Int, rows: [FileEntry]) -> [Change] {
        let brought = Dictionary(rows.compactMap { e in !e.deleted && e.kind == .file ? e.hash.map { (e.path.rawValue, $0) } : nil },
                                 uniquingKeysWith: { _, b in b })
        let folded = Change.foldingRenames(Array(outcome.changes[start...])) { c in
            guard c.status == .deleted else { return brought[c.path] }
            guard let p = try? RelativePath(c.path), let l = locals[p], l.kind == .file else { return nil }
            return l.hash
        }
        outcome.changes.replaceSubrange(start..., with: folded)
        return folded
    }

    /// Records the batch: one history commit of what changed on disk, then the index rows and the
    /// peer's sequence in one transaction.
    func record(_ rows: [FileEntry], touched: Set<RelativePath>, changes: [Change], meta: [(String, String)]) throws {
        guard !rows.isEmpty else {
            if !meta.isEmpty { try context.index.record(changes: [], commit: nil, meta: meta) }
            return
        }
        let history = try context.history
        var updates: [HistoryRepository.Update] = []
        let maxBlob = context.folder.config.maxBlob
        let stored = blobs?.finish() ?? [:]
        history.refreshObjects() // the blob writer's pack, written through its own handle
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
                    // Where the changes were made: the nodes whose counters went up (at most 8 named).
                    let madeOn = Set(rows.filter { touched.contains($0.path) }.flatMap { $0.version.changers(since: locals[$0.path]?.version) })
                    let made = madeOn.isEmpty ? "" : "Sync-Made-On: \(madeOn.sorted().prefix(8).joined(separator: " "))\n"
                    commitID = try recorder.commit(snapshot, changes: changes, sequence: try context.index.sequence() + Int64(rows.count),
                                                   trailers: "Sync-Pulled-From: \(peer)\n" + made)
                }
            }
            outcome.commit = commitID?.hex
            // A rename's two rows side by side in this node's sequence, for the peers that pull from it.
            try context.index.record(changes: FileEntry.keepingRenamesTogether(rows) { locals[$0.path]?.hash },
                                     commit: commitID?.hex, meta: meta)
            // Manifests only speed up later transfers: one that cannot be kept is not a failure.
            if !manifests.isEmpty {
                try? context.index.keepManifests(manifests)
                manifests = [:]
            }
        } catch let e as GitError {
            throw SyncError.history(path: context.folder.historyPath, message: e.description)
        }
    }
}
