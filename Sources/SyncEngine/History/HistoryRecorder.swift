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
            let head = try history.head()
            let base = try head.map { try history.commit($0).tree }
            var tree = try history.tree(from: base, applying: updates)
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
