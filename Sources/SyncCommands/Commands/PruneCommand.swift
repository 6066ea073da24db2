import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

public struct PruneCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-prune",
        abstract: "Expire old versions from a folder's history and repack what stays.",
        discussion: """
            Drops the versions (recorded changes) that the folder's retention expires, rewriting this \
            node's history only (each node's history is its own), then writes one new pack of what stays \
            and removes every other object. The authored histories of other nodes that pulls fetched \
            (refs/peers/NODE/..., see sync versions) are pruned too, each chain on its own, by the same \
            bounds, or by the history.peers.keep-within, history.peers.keep-last, history.peers.max-size \
            and history.peers.thin settings where they are set (other than `same`), for a user who wants \
            less of other nodes' versions than of this node's. A version goes as soon as any bound set expires it; the newest \
            never goes. The bounds come from the folder's settings, each overridable here: \
            history.keep-within (age), history.keep-last (count), history.max-size (newest versions stay \
            while their content, each distinct content once, adds up to at most SIZE) and history.thin \
            (staggered: one version per 30 s in the last hour, per hour in the last day, per day in the \
            last 30 days, per week before). Without any bound set, prune only repacks. \
            A kept version whose older neighbours went stands for them too: its commit gets a \
            `Sync-Squashed: N` trailer. Old versions of large files (the version store) go with the last \
            version that points to them. \
            Deletion records (tombstones) older than tombstones.keep-within leave the index once every peer \
            that ever pulled this folder has asked for changes past them; a peer that will not come back \
            is let go with --forget-peer. \
            Crash-safe: the new pack is written and synced before the history's branch moves (atomically), \
            and old objects go only after that; the folder stays locked (no commit, no pull) meanwhile.
            """)
    public static let manual = Manual(
        output: """
            Without --dry-run, one summary line: versions dropped and kept, history size on disk before and \
            after, large-file versions removed, deletion records expired. With --dry-run, first one line per \
            version that would go (as sync log prints it), then the summary with the content bytes that \
            would come back (before compression; the pack on disk is usually smaller). With --json, one \
            object with the keys dryRun, versionsBefore, versionsAfter, dropped, contentBytesFreed, \
            diskBefore, diskAfter, storedVersionsRemoved, storedVersionsBytes, tombstonesExpired and \
            tombstonesWaiting. Progress goes to standard error on a terminal.
            """,
        exitStatus: "0 on success; 1 when the folder is unknown or its history cannot be rewritten; 2 on a usage error.",
        files: stateFiles,
        examples: [("sync prune --dry-run ~/Documents", "what the folder's retention would drop"),
                   ("sync config ~/Documents history.keep-within 90d", "keep 90 days of versions"),
                   ("sync prune --keep-last 100 ~/Documents", "keep the 100 newest versions, this once"),
                   ("sync prune --thin --max-size 20G ~/Photos", "thin old versions and cap the history's content")],
        seeAlso: ["sync-log", "sync-versions", "sync-config", "sync-daemon"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String?

    @Option(help: "Drop versions older than this (90d, 12w; overrides history.keep-within).")
    var keepWithin: String?

    @Option(help: "Keep only this many newest versions (overrides history.keep-last).")
    var keepLast: Int?

    @Option(help: "Keep newest versions while their content adds up to this (20G; overrides history.max-size).")
    var maxSize: String?

    @Flag(help: "Thin old versions, staggered (as history.thin staggered).")
    var thin = false

    @Option(help: "Let deletion records expire without waiting for this peer (a node id) to see them.")
    var forgetPeer: [String] = []

    @Flag(help: "Show what would go; change nothing.")
    var dryRun = false

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if let keepWithin, Units.duration(keepWithin) == nil {
            throw ValidationError("--keep-within \(keepWithin): not a duration (such as 90d, 12w, 36h)")
        }
        if let keepLast, keepLast < 1 { throw ValidationError("--keep-last must be at least 1") }
        if let maxSize, Units.size(maxSize) == nil { throw ValidationError("--max-size \(maxSize): not a size (such as 512M, 20G)") }
        for p in forgetPeer where (try? NodeID(p)) == nil { throw ValidationError("--forget-peer \(p): not a node id") }
    }

    public func run() throws {
        try reporting("sync-prune") {
            let state = StateDirectory.fromEnvironment()
            let f = try resolveFolder(folder, state: state)
            let context = try FolderContext(f, state: state)
            var retention = Retention(f.config)
            if let keepWithin { retention.keepWithin = Units.duration(keepWithin) }
            if let keepLast { retention.keepLast = keepLast }
            if let maxSize { retention.maxSize = Units.size(maxSize) }
            if thin { retention.thin = true }
            if !dryRun { for p in forgetPeer where try !context.index.forgetSeen(by: p) { warn("sync-prune: peer \(p) never pulled folder \(f.id)") } }
            let pruner = Pruner(context)
            if let line = ProgressLine.ifTerminal() {
                pruner.progress = { phase, done, total in line.show("sync-prune: \(phase) \(done)/\(total) versions", done: done == total) }
            }
            let report = try pruner.run(retention, dryRun: dryRun)
            if json { return emit(try SyncCommands.json(report)) }
            report.dropped.forEach { emit($0.line) }
            emit(report.summary)
        }
    }
}
