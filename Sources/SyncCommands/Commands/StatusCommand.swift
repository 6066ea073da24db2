import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct StatusCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-status",
        abstract: "Show the state of folders.",
        discussion: """
            For each folder (or the one named), first a word for where it stands: in sync (every peer \
            with a link up holds what this node holds and the other way round), syncing (a transfer is \
            going on, or changes on disk are not recorded yet), behind (a peer has changes this node \
            lacks, or lacks this node's), held (the deletion guard holds changes back: sync confirm), \
            paused, offline (no link to any of its peers is up: sync up is not running, or they are \
            away), or error (its directory is gone). Then its path, state, number of files and bytes \
            recorded, its sequence number, its last commit, how many paths changed on disk since \
            (pending; not what a pull is writing now), and when its history was last pruned (sync \
            prune). Finding the pending paths reads no file contents. Then one line per peer (a peer \
            that dialed this node and the same peer dialed by it are one): its name (the one it gave \
            itself, sync keys name; else the start of its node id), its remote (or `it dialed`), the \
            state of its link (up, connecting, waiting to dial again, or no link when sync up is not \
            running), since when (and, when it is not up, for how long it has been away), and whether \
            it is in sync: `behind by N changes` (its changes this node lacks) and `it lacks N changes \
            of ours (SIZE)`. Then its last error, and a transfer in progress either way, with its \
            entries, bytes of the total at most, rate and the time left at that rate.
            """)
    public static let manual = Manual(
        output: "A block per folder: `folder ID (NAME): WORD`, then `key: value` lines; with --json an array of objects with the keys "
            + "id, name, summary, path, state, files, bytes, sequence, lastCommit, lastCommitTime, pending, heldFrom, heldStillDeleted, "
            + "lastPruned and peers (remote, node, name, role, state, since, peerSequence, peerAt, told, behindBy, unseen, unseenBytes, "
            + "sync, lastError, transfer, sending; a transfer has direction, entriesDone, entriesTotal, bytes, bytesTotal).",
        files: stateFiles,
        examples: [("sync status", "every folder"), ("sync status --json ~/Documents", "one folder, for scripts"),
                   ("sync status --watch", "watch a big first sync, redrawn every second")],
        seeAlso: ["sync-folders", "sync-commit", "sync-log"])

    @Argument(help: "The folder: its id, name, path or a path inside it (default: every folder).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "Show each peer's node id beside its name.")
    var verbose = false

    @Flag(help: "Keep showing the status, redrawn in place on a terminal (Ctrl-C ends it).")
    var watch = false

    @Option(help: "With --watch: how often to show it again, e.g. 1s, 500ms.")
    var interval = "1s"

    public init() {}

    public mutating func validate() throws {
        guard let d = Units.duration(interval), (0.1...3600).contains(d) else {
            throw ValidationError("--interval \(interval): not a duration from 100ms to 1h")
        }
        if json && watch { throw ValidationError("--json and --watch exclude each other") }
        if !watch && interval != "1s" { throw ValidationError("--interval goes with --watch") }
    }

    public func run() throws {
        try reporting("sync-status") {
            let state = StateDirectory.fromEnvironment()
            let folders = try foldersNamed(folder, state: state)
            func text() throws -> String {
                try folders.map { try FolderStatus(FolderContext($0, state: state)).text(verbose: verbose) }.joined(separator: "\n\n")
            }
            if json { return emit(try SyncCommands.json(try folders.map { try FolderStatus(FolderContext($0, state: state)) })) }
            guard watch else { return emit(try text()) }
            // On a terminal, the screen is redrawn in place; elsewhere each round is printed after the
            // last, with the time above it.
            let terminal = isatty(1) != 0
            let every = Units.duration(interval)!
            while true {
                let stamp = ISO8601DateFormatter().string(from: Date())
                let body = "sync status at \(stamp), every \(interval) (Ctrl-C ends)\n\n" + (try text())
                guard writeAll((terminal ? "\u{1b}[H\u{1b}[2J" : "") + body + "\n" + (terminal ? "" : "\n")) else { return }
                usleep(UInt32(every * 1_000_000))
            }
        }
    }
}
