import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct StatusCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-status",
        abstract: "Show the state of folders.",
        discussion: """
            For each folder (or the one named): its path, state, number of files and bytes recorded, its \
            sequence number, its last commit, how many paths changed on disk since (pending), and when its \
            history was last pruned (sync prune). Finding \
            the pending paths reads no file contents. Then one line per peer: its remote (or, for a peer \
            that dialed this node, its node id), the state of the link (up, connecting, waiting to dial \
            again, or no link when sync up is not running), since when, the peer's sequence this node \
            holds, the last sequence of this node told to the peer, the last error, and a transfer in \
            progress with its entries, bytes and rate.
            """)
    public static let manual = Manual(
        output: "A block of `key: value` lines per folder; with --json an array of objects with the keys id, name, "
            + "path, state, files, bytes, sequence, lastCommit, lastCommitTime, pending, heldFrom, heldStillDeleted, lastPruned and peers "
            + "(remote, node, role, state, since, peerSequence, told, lastError, transfer).",
        files: stateFiles,
        examples: [("sync status", "every folder"), ("sync status --json ~/Documents", "one folder, for scripts")],
        seeAlso: ["sync-folders", "sync-commit", "sync-log"])

    @Argument(help: "The folder: its id, name, path or a path inside it (default: every folder).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public func run() throws {
        try reporting("sync-status") {
            let state = StateDirectory.fromEnvironment()
            let folders = try foldersNamed(folder, state: state)
            let statuses = try folders.map { try FolderStatus(FolderContext($0, state: state)) }
            if json { emit(try SyncCommands.json(statuses)) } else { emit(statuses.map(\.text).joined(separator: "\n\n")) }
        }
    }
}
