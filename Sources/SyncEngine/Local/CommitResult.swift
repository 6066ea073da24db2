import Foundation
import SyncCore
import SyncGit

/// What one commit recorded.
public struct CommitResult: Sendable {
    /// What people are told when the guard holds a commit back.
    public var heldMessage: String? {
        held.map { "this change deletes \($0.deleted) of the folder's \($0.of) files: it stays on this node, and is not spread to peers until 'sync confirm \(folder)' (sync restore --at brings the files back)" }
    }

    public let folder: FolderID
    public let sequence: Int64
    public let commit: ObjectID?
    /// What people are shown, the first `shownLimit` of them (history keeps every one).
    public let changes: [Change]
    /// How many changes were shown in all (more than `changes` holds past `shownLimit`).
    public var changeCount: Int
    /// At most this many changes are kept in `changes`: a commit of a million files does not hold
    /// a million change lines for its report.
    public static let shownLimit = 10_000
    /// Paths that changed while they were read; they are left for the next round.
    public let retry: [RelativePath]
    public let problems: [ScanProblem]
    /// Set when this commit deleted so much of the folder that the guard holds it back: files
    /// deleted, and live files before.
    public var held: (deleted: Int, of: Int)? = nil

    init(folder: FolderID, sequence: Int64, commit: ObjectID?, changes: [Change], changeCount: Int? = nil,
         retry: [RelativePath], problems: [ScanProblem]) {
        self.folder = folder; self.sequence = sequence; self.commit = commit; self.changes = changes
        self.changeCount = changeCount ?? changes.count
        self.retry = retry; self.problems = problems
    }

    /// `<folder-id> <sequence> <commit>`, the plumbing output line.
    public var line: String { "\(folder) \(sequence) \(commit?.hex ?? "-")" }
}

/// Progress of a long commit, for a display.
public struct CommitProgress: Sendable {
    public var filesHashed: Int
    public var filesToHash: Int
    public var bytesHashed: Int64
    public var bytesToHash: Int64
}
