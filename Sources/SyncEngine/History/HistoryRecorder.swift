import Foundation
import SyncCore
import SyncGit

/// Writes this node's history commits, for a commit of local changes and for a pulled batch
/// alike: the last commit's tree with the batch's updates applied, the directories that are left
/// empty kept as empty trees, and a commit whose message lists the changes.
struct HistoryRecorder {
    let context: FolderContext

    /// The last commit's tree and the new one.
    struct Snapshot {
        let head: ObjectID?
        let base: ObjectID?
        let tree: ObjectID
        /// The empty trees added for directories that hold nothing.
        let emptyDirectories: [HistoryRepository.Update]
        var changed: Bool { base != tree }
    }

    /// The head's tree with `updates` applied, and an empty tree for each directory of `live`
    /// that holds nothing then.
    func snapshot(applying updates: [HistoryRepository.Update], live: Set<RelativePath>) throws -> Snapshot {
        try git {
            let history = try context.history
            var head = try history.head()
            if head == nil, try !context.index.entries(since: 0, limit: 1).isEmpty {
                // A history made anew (lost, or unreadable: see FolderContext) under an index that
                // holds files: it starts with the folder as the index has it, so that the next
                // commits are not missing everything they did not change.
                head = try seed(history, parent: nil, why: "history started anew")
            }
            var base = try head.map { try history.commit($0).tree }
            var tree: ObjectID
            do { tree = try history.tree(from: base, applying: updates) } catch let e as GitError where base != nil {
                // The last commit's tree cannot be read (a loose tree lost or corrupt): history goes
                // on from the folder as the index has it, on top of what was there. Any other
                // failure (the updates themselves, say) is the caller's, as it was.
                let unreadable = history.quarantineUnreadableTrees(from: base!)
                guard !unreadable.isEmpty else { throw e }
                Self.warn("folder \(context.folder.id): the last commit of history cannot be read (\(e.message)); "
                    + "\(unreadable.count) trees lost or corrupt (those on disk moved to \(history.path)/sync-corrupt); "
                    + "recording the folder as it is on top of it")
                head = try seed(history, parent: head, why: "the last commit could not be read")
                base = try history.commit(head!).tree
                tree = try history.tree(from: base, applying: updates)
            }
            let empty = try Self.emptyDirectories(live, missingFrom: tree, history)
            if !empty.isEmpty { tree = try history.tree(from: tree, applying: empty) }
            return Snapshot(head: head, base: base, tree: tree, emptyDirectories: empty)
        }
    }

    /// Commits the snapshot's tree on its head; `trailers` go after the message's own. Changes made
    /// on this node (`authored`) are also committed on this node's authored chain first
    /// (`refs/authored`, which peers fetch): the same tree, message and time on the chain's tip, so
    /// that while no pull comes between two local commits, the two commits are one object. A crash
    /// between the two leaves the chain one commit ahead, and the next scan commits the change
    /// again on both: the chain then holds the same tree twice, which reads as no change.
    func commit(_ s: Snapshot, changes: [Change], sequence: Int64, trailers: String = "", authored: Bool = false) throws -> ObjectID {
        let node = try context.state.identity().id
        let message = Self.message(changes: changes, folder: context.folder.id, node: node, sequence: sequence) + trailers
        let time = Date()
        return try git {
            let history = try context.history
            if authored {
                let tip = try history.reference(HistoryRepository.authoredRef)
                let a = try history.commit(tree: s.tree, parent: tip, message: message, author: node.short, email: "\(node.short)@sync",
                                           time: time, updating: nil)
                try history.setReference(HistoryRepository.authoredRef, to: a, expected: tip, why: "authored", sync: false)
            }
            return try history.commit(tree: s.tree, parent: s.head, message: message, author: node.short, email: "\(node.short)@sync", time: time)
        }
    }

    /// Commits the folder as the index records it, on `parent`: each live file whose content on
    /// disk still has its recorded id (read beneath the folder, never through a link), large files
    /// as pointers, links by their targets. A file that changed since is left to the next scan.
    /// Returns the commit, which `main` now names.
    private func seed(_ history: HistoryRepository, parent: ObjectID?, why: String) throws -> ObjectID {
        let maxBlob = context.folder.config.maxBlob
        var updates: [HistoryRepository.Update] = []
        var since: Int64 = 0
        var skipped = 0
        while true {
            let rows = try context.index.entries(since: since, limit: 5000)
            guard let last = rows.last else { break }
            since = last.sequence
            for e in rows where !e.deleted {
                switch e.kind {
                case .directory: continue
                case .symlink:
                    updates.append(.upsert(path: e.path.rawValue, id: try history.writeBlob(Array((e.symlinkTarget ?? "").utf8)), mode: .symlink))
                case .file:
                    guard let hash = e.hash else { continue }
                    let mode: HistoryRepository.Mode = e.executable ? .executable : .file
                    if e.size > maxBlob {
                        updates.append(.upsert(path: e.path.rawValue, id: try history.writeBlob(LargeFilePointer(id: hash, size: e.size).bytes), mode: mode))
                        continue
                    }
                    if let id = try? ObjectID(hex: hash), history.contains(id) {
                        updates.append(.upsert(path: e.path.rawValue, id: id, mode: mode))
                        continue
                    }
                    guard let fd = try? Beneath.openForReading(e.path, in: context.folder.root),
                          let id = try? history.writeBlob(fromFile: "/proc/self/fd/\(fd.raw)"), id.hex == hash else {
                        skipped += 1
                        continue
                    }
                    updates.append(.upsert(path: e.path.rawValue, id: id, mode: mode))
                }
            }
        }
        let tree = try history.tree(from: nil, applying: updates)
        let node = try context.state.identity().id
        let message = "sync: \(updates.count) files as they are (\(why))\n\n"
            + (skipped > 0 ? "\(skipped) files changed since they were recorded are left to the next scan.\n\n" : "")
            + "Sync-Folder: \(context.folder.id)\nSync-Node: \(node)\nSync-Seed: \(why)\n"
        return try history.commit(tree: tree, parent: parent, message: message, author: node.short, email: "\(node.short)@sync")
    }

    /// A warning on standard error (a pipeline's goes to the daemon's log): history was made anew.
    static func warn(_ line: String) {
        FileHandle.standardError.write(Data(("sync: " + line + "\n").utf8))
    }

    /// Whether the entry at `path` in the tree `tree` is an empty tree.
    func isEmptyDirectory(_ path: RelativePath, in tree: ObjectID) throws -> Bool {
        try git { try context.history.entry(inTree: tree, path: path.rawValue)?.id == context.history.emptyTree() }
    }

    static let messageLimit = 1000

    /// The commit message: a summary line, the changes (at most `messageLimit`), and trailers.
    static func message(changes: [Change], folder: FolderID, node: NodeID, sequence: Int64) -> String {
        var lines = ["sync: \(changes.count) change\(changes.count == 1 ? "" : "s") at sequence \(sequence)", ""]
        lines += changes.prefix(messageLimit).map(\.line)
        if changes.count > messageLimit { lines.append("... \(changes.count - messageLimit) more") }
        lines += ["", "Sync-Folder: \(folder)", "Sync-Node: \(node)", "Sync-Sequence: \(sequence)"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Empty trees for the directories of `live` that hold nothing in `tree`: git keeps no empty
    /// directory, history keeps one as an empty tree. Only the innermost can be empty: a directory
    /// with a live directory below it is not.
    static func emptyDirectories(_ live: Set<RelativePath>, missingFrom tree: ObjectID,
                                 _ history: HistoryRepository) throws -> [HistoryRepository.Update] {
        var out: [HistoryRepository.Update] = []
        let parents = Set(live.flatMap(\.ancestors))
        for d in live.sorted() where !parents.contains(d) {
            guard try history.entry(inTree: tree, path: d.rawValue) == nil else { continue }
            out.append(.upsert(path: d.rawValue, id: try history.emptyTree(), mode: .directory))
        }
        return out
    }

    /// libgit2's failures as the folder's history errors.
    func git<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as GitError {
            throw SyncError.history(path: context.folder.historyPath, message: e.description)
        }
    }
}
