import Foundation
import SyncCore
import SyncGit

/// A folder opened for work: its settings, index, history and the scanner that matches its ignore rules.
public final class FolderContext: @unchecked Sendable {
    public let folder: Folder
    public let state: StateDirectory
    public let index: FolderIndex
    private let historyLock = NSLock()
    private var opened: HistoryRepository? // guarded by historyLock

    public init(_ folder: Folder, state: StateDirectory) throws {
        self.folder = folder
        self.state = state
        index = try FolderIndex(path: folder.indexPath)
    }

    /// The folder's history, opened at its first use: a scan that finds nothing to record never
    /// needs it (nor libgit2's start, a few milliseconds of every process that opens one).
    public var history: HistoryRepository {
        get throws {
            historyLock.lock()
            defer { historyLock.unlock() }
            if let opened { return opened }
            do {
                let h = try HistoryRepository(openAt: folder.historyPath)
                opened = h
                return h
            } catch let e as GitError {
                // Not there, or not a repository any more: history starts anew (the next commit
                // records the folder as it is first; `sync history repair` brings back this node's
                // versions that peers keep). What was there is moved aside, never deleted.
                // Only then: a failure to open for any other reason (out of descriptors, say) is
                // passed on, and the history is left where it is.
                guard e.isNotFound, let h = try? recreateHistory(after: e) else {
                    throw SyncError.history(path: folder.historyPath, message: e.description)
                }
                opened = h
                return h
            }
        }
    }

    /// A new, empty history in place of one that cannot be opened (missing, or not a repository),
    /// under a lock of its own (the caller may hold the folder lock); what was at its path is moved
    /// to `history.broken-<time>` beside it.
    private func recreateHistory(after error: GitError) throws -> HistoryRepository {
        let lock = try FileLock(path: folder.directory + "/history-create.lock")
        defer { _ = lock }
        // Another process may have made it meanwhile.
        if let h = try? HistoryRepository(openAt: folder.historyPath) { return h }
        var st = stat()
        var aside: String?
        if lstat(folder.historyPath, &st) == 0 {
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            aside = folder.directory + "/history.broken-" + stamp
            guard rename(folder.historyPath, aside!) == 0 else { throw SyncError.io(path: folder.historyPath, operation: "move aside", errno: errno) }
        }
        let h = try HistoryRepository.create(at: folder.historyPath, worktree: folder.root)
        HistoryRecorder.warn("folder \(folder.id): history could not be opened (\(error.message)); "
            + (aside.map { "what was there is kept as \($0); " } ?? "")
            + "a new history starts with the folder as it is (sync history repair \(folder.id) brings back this node's versions from its peers)")
        return h
    }

    /// Opens the history anew if a prune rewrote it since it was opened here (not opened yet:
    /// nothing to do, its first use opens what is there then).
    func reopenHistoryIfRewritten() throws {
        historyLock.lock()
        let h = opened
        historyLock.unlock()
        try h?.reopenIfRewritten()
    }

    /// Takes the folder lock, which every process that writes the folder's index or history holds
    /// (commit, pull, prune). With it held, no lock file of libgit2's in the history can be live:
    /// any there was left by a process killed while it wrote (and would stop every later commit).
    func lockForWriting() throws -> FileLock {
        let lock = try FileLock(path: folder.lockPath)
        HistoryRepository.removeStaleLocks(at: folder.historyPath)
        return lock
    }

    /// The ignore rules in force now: the folder's `ignore` settings, then `.syncignore` at the root.
    func ignoreMatcher() -> IgnoreMatcher {
        var lines = folder.config.ignorePatterns
        if let data = FileManager.default.contents(atPath: folder.root + "/.syncignore") {
            lines += String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        return IgnoreMatcher(lines: lines)
    }

    /// A scanner for the folder; the state directory is excluded when it lies inside the folder.
    public func scanner() -> Scanner {
        var excluded: Set<String> = []
        if FileSystem.isWithin(state.root, folder.root), state.root != folder.root {
            excluded.insert(String(state.root.dropFirst(folder.root.count + 1)))
        }
        return Scanner(root: folder.root, ignore: ignoreMatcher(), excluded: excluded)
    }

    /// Absolute path of a path in the folder.
    public func absolute(_ path: RelativePath) -> String { folder.root + "/" + path.rawValue }
}
