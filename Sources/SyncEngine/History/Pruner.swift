import Foundation
import SyncCore
import SyncGit

/// Expires a folder's history by its retention and repacks what stays. The order keeps every
/// version that should stay through a crash at any point: (1) the new commits and one pack of all
/// that stays are written and synced; (2) `main` moves to the new newest commit (compare and swap,
/// synced); (3) other handles are told to reopen; (4) only then do old packs and loose objects go.
/// A crash before (2) leaves the old history whole (plus an unused pack, removed next time); after
/// it, the new one whole (plus garbage). The folder lock is held throughout.
public final class Pruner {
    public let context: FolderContext
    /// Reports a phase and its progress (done, total).
    public var progress: ((String, Int, Int) -> Void)?
    /// Called after each step that changes the disk (`commits`, `pack`, `main`, `chains`, `stamp`, `objects`);
    /// a test throws here to stop a prune as a crash would.
    var afterStep: ((String) throws -> Void)?
    /// Blobs above this stay loose objects: a pack builder holds each object whole in memory.
    static let packLimit: Int64 = 32 << 20
    /// A prune that drops nothing repacks everything only when there are this many packs.
    static let packsBeforeRepack = 16

    public init(_ context: FolderContext) { self.context = context }

    public func run(_ retention: Retention, now: Date = Date(), dryRun: Bool) throws -> PruneReport {
        let folder = context.folder
        // No history fetch adds objects while what stays is worked out and the rest removed.
        let fetchLock = dryRun ? nil : try FileLock(path: HistoryFetch.lockPath(folder))
        let lock = dryRun ? nil : try context.lockForWriting()
        defer { _ = lock; _ = fetchLock }
        let history = try context.history
        var report = PruneReport(dryRun: dryRun)
        do {
            try history.reopenIfRewritten()
            report.diskBefore = history.diskUsage()
            var commits: [HistoryRepository.Commit] = []
            try history.log { commits.append($0); return true }
            report.versionsBefore = commits.count

            let keep = try keeping(commits, retention, now: now)
            report.versionsAfter = keep.filter { $0 }.count
            // The chains beside main: this node's authored one by the same rule, other nodes' ones
            // by the history.peers.* settings where set.
            let peers = retention.forPeers(context.folder.config)
            let side = try history.sideChains().map { ref in
                let chain = try history.chain(from: ref.tip)
                let rule = ref.name == HistoryRepository.authoredRef ? retention : peers
                return SideChain(ref: ref.name, tip: ref.tip, commits: chain, keep: try keeping(chain, rule, now: now))
            }
            let sideDrops = side.contains { $0.keep.contains(false) }

            // What stays reaches these blobs; the large files' pointers among them keep their versions.
            // (Only walked when something needs it: a dry run's count, or a version store to prune.)
            let stored = storedVersions()
            var keptTrees = Set<ObjectID>(), keptBlobs = Set<ObjectID>()
            if dryRun || !stored.isEmpty {
                for (c, k) in zip(commits, keep) + side.flatMap({ zip($0.commits, $0.keep) }) where k {
                    try history.walkNew(tree: c.tree, seenTrees: &keptTrees, seenBlobs: &keptBlobs, tree: { _, _ in true }, blob: { _, _ in })
                }
            }
            if dryRun {
                var trees = keptTrees, blobs = keptBlobs
                for (c, k) in zip(commits, keep) where !k {
                    report.dropped.append(LogEntry(c))
                    try history.walkNew(tree: c.tree, seenTrees: &trees, seenBlobs: &blobs, tree: { _, _ in true }) { blob, _ in
                        report.contentBytesFreed += try history.objectSize(blob)
                    }
                }
            } else if report.versionsAfter == report.versionsBefore && !sideDrops && history.packCount() < Self.packsBeforeRepack {
                // Nothing to drop: what was recorded since the last pack goes into one more pack,
                // unless packs have piled up.
                try history.packRecent(looseAbove: Self.packLimit)
                try history.markRewritten() // handles that do not look for new packs open anew
                try afterStep?("objects")
            } else {
                try rewrite(commits, keep: keep, side: side)
            }
            if !dryRun { report.diskAfter = history.diskUsage() }
            // Old versions of large files that no kept version points to any more.
            for v in stored where !keptBlobs.contains(v.pointer) {
                if !dryRun && unlink(v.file) != 0 { continue }
                report.storedVersionsRemoved += 1
                report.storedVersionsBytes += v.size
            }
            try tombstones(retention, now: now, remove: !dryRun, report: &report)
        } catch let e as GitError {
            throw SyncError.history(path: folder.historyPath, message: e.description)
        }
        return report
    }

    /// A chain beside main, its commits newest first, and which of them stay.
    struct SideChain {
        let ref: String
        let tip: ObjectID
        let commits: [HistoryRepository.Commit]
        let keep: [Bool]
    }

    /// Which of `commits` (newest first) the retention keeps.
    private func keeping(_ commits: [HistoryRepository.Commit], _ retention: Retention, now: Date) throws -> [Bool] {
        let history = try context.history
        var sizes: [Int64]?
        if retention.maxSize != nil {
            var trees = Set<ObjectID>(), blobs = Set<ObjectID>()
            sizes = try commits.enumerated().map { i, c in
                progress?("sizing", i + 1, commits.count)
                var added: Int64 = 0
                try history.walkNew(tree: c.tree, seenTrees: &trees, seenBlobs: &blobs, tree: { _, _ in true }) { blob, _ in
                    added += try history.objectSize(blob)
                }
                return added
            }
        }
        return RetentionRule.keep(times: commits.map(\.time), sizes: sizes, retention: retention, now: now)
    }

    /// The chain that keeps the versions `keep` says of `commits` (newest first), oldest first: a
    /// kept version whose older neighbours went is copied onto the copy of the kept one before it,
    /// saying how many changes it now stands for. Writes commits, moves no reference.
    private func kept(_ commits: [HistoryRepository.Commit], keep: [Bool]) throws -> [ObjectID] {
        let history = try context.history
        var parent: ObjectID?
        var chain: [ObjectID] = []
        var folded = 0
        var rewriting = false
        for (c, k) in zip(commits, keep).reversed() {
            guard k else { folded += Self.squashed(c.message) + 1; rewriting = true; continue }
            if rewriting {
                let message = Self.message(c.message, squashed: Self.squashed(c.message) + folded)
                parent = try history.copyCommit(c.id, parent: parent, message: message)
            } else {
                parent = c.id
            }
            folded = 0
            chain.append(parent!)
        }
        return chain
    }

    /// Keeps the versions `keep` says of `commits` (newest first), and of each chain beside main, in
    /// the crash-safe order above.
    private func rewrite(_ commits: [HistoryRepository.Commit], keep: [Bool], side: [SideChain]) throws {
        let history = try context.history
        // (1) The new chains.
        let chain = try kept(commits, keep: keep)
        let sideKept = try side.map { try kept($0.commits, keep: $0.keep) }
        try afterStep?("commits")
        let oldHead = commits.first?.id
        let pack = try history.writePack(commits: chain + sideKept.flatMap { $0 }, looseAbove: Self.packLimit) { done, total in
            self.progress?("packing", done, total)
        }
        try afterStep?("pack")
        // (2) Main and the chains beside it move, (3) others reopen, (4) the rest goes.
        if let newHead = chain.last, newHead != oldHead {
            try history.moveMain(to: newHead, expected: oldHead)
            // The index names the last commit it recorded: the same one, rewritten.
            if let recorded = try context.index.meta(MetaKey.commit), recorded == oldHead?.hex {
                try context.index.setMeta(MetaKey.commit, newHead.hex)
            }
        }
        try afterStep?("main")
        for (s, new) in zip(side, sideKept) {
            // A chain that keeps nothing goes (its commits then go with the objects).
            if let tip = new.last {
                if tip != s.tip { try history.setReference(s.ref, to: tip, expected: s.tip, why: "prune") }
            } else {
                try history.removeReference(s.ref)
            }
        }
        try afterStep?("chains")
        try history.markRewritten()
        try afterStep?("stamp")
        if let pack { try history.removeObjects(exceptPack: pack.name, keepLoose: pack.loose) }
        try afterStep?("objects")
    }

    static let squashedTrailer = "Sync-Squashed: "

    /// How many earlier changes a commit already stands for (pruned before).
    static func squashed(_ message: String) -> Int {
        for line in message.split(separator: "\n") where line.hasPrefix(squashedTrailer) {
            return Int(line.dropFirst(squashedTrailer.count)) ?? 0
        }
        return 0
    }

    /// `message` with its squashed count set to `n`.
    static func message(_ message: String, squashed n: Int) -> String {
        var lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeAll { $0.hasPrefix(squashedTrailer) }
        while lines.last == "" { lines.removeLast() }
        lines.append(squashedTrailer + String(n))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The version store's files (old versions of large files, named by content id): path, size, and the id of the pointer blob that names them.
    private func storedVersions() -> [(file: String, size: Int64, pointer: ObjectID)] {
        let store = context.folder.directory + "/versions"
        return ((try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []).compactMap { name in
            var st = stat()
            let file = store + "/" + name
            guard lstat(file, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, (try? ObjectID(hex: name)) != nil else { return nil }
            return (file, Int64(st.st_size), HistoryRepository.hash(LargeFilePointer(id: name, size: Int64(st.st_size)).bytes))
        }
    }

    /// Deletion records older than the rule leave the index once every peer that ever pulled
    /// from this folder asked for changes past them (it has them): a peer that has not seen a
    /// deletion would otherwise keep the file, and a peer that has seen it has no row to bring
    /// it back with.
    private func tombstones(_ r: Retention, now: Date, remove: Bool, report: inout PruneReport) throws {
        let before = Int64((now.timeIntervalSince1970 - r.tombstonesWithin) * 1e9)
        let seen = try context.index.acknowledged().values.min() ?? Int64.max
        let old = try context.index.tombstones(before: before)
        let expiring = old.filter { $0.sequence <= seen }
        report.tombstonesWaiting = old.count - expiring.count
        report.tombstonesExpired = expiring.count
        if remove, !expiring.isEmpty { try context.index.removeTombstones(expiring.map(\.path)) }
    }
}
