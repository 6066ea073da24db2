import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol
import SyncSSH

public struct ConflictsCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-conflicts",
        abstract: "List conflict copies and how to keep either version.",
        discussion: """
            When two nodes changed a file concurrently, the later change keeps the path and the other is \
            kept beside it as NAME.sync-conflict-DATE-TIME-NODE-CONTENT.EXT, on every node. This lists each copy \
            with the version at the original path and the commands that keep one or the other. Both \
            versions are also in history (sync log, sync restore).
            """)
    public static let manual = Manual(
        output: """
            For each conflict: `conflict PATH`, then `  kept:  PATH (SIZE, HASH)`, `  other: COPY (SIZE, \
            HASH, made on NAME)` (NAME: the node that made that version, when this node knows its name) \
            and two commands: keep the other version (mv COPY PATH) or keep the current one (rm \
            COPY). With --json, an array of {path, copy, keptHash, keptSize, otherHash, otherSize, node, madeOn}. \
            With none, nothing on standard output and `sync-conflicts: no conflict copies` on standard error.
            """,
        files: stateFiles,
        examples: [("sync conflicts ~/Documents", "list the conflicts of a folder")],
        seeAlso: ["sync-pull", "sync-restore"])

    @Argument(help: "The folder: its id, name, path or a path inside it (default: every folder).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public func run() throws {
        try reporting("sync-conflicts") {
            let state = StateDirectory.fromEnvironment()
            let folders = try foldersNamed(folder, state: state)
            let rows = ConflictCopy.named(try ConflictCopy.all(in: folders), me: try state.identity().id, names: NodeNames(state))
            if json { return emit(try SyncCommands.json(rows)) }
            // Nothing on standard output, so scripts see no rows; a person is told.
            if rows.isEmpty { warn("sync-conflicts: no conflict copies") }
            let roots = Dictionary(uniqueKeysWithValues: folders.map { ($0.id.rawValue, $0.root) })
            for r in rows {
                let root = roots[r.folder] ?? ""
                let p = shellQuote(root + "/" + r.path), c = shellQuote(root + "/" + r.copy)
                emit("conflict \(PathQuoting.quote(r.path))")
                emit("  kept:  \(PathQuoting.quote(r.path)) (\(r.keptSize.map { Units.formatBytes($0) } ?? "deleted"), \(r.keptHash.map { String($0.prefix(7)) } ?? "-"))")
                emit("  other: \(PathQuoting.quote(r.copy)) (\(Units.formatBytes(r.otherSize)), \(r.otherHash.map { String($0.prefix(7)) } ?? "-")"
                     + (r.madeOn.map { ", made on \($0)" } ?? "") + ")")
                emit("  keep the other version:  mv \(c) \(p)")
                emit("  keep the current version: rm \(c)")
            }
        }
    }
}
