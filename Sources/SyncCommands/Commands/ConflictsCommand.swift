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
            HASH)` and two commands: keep the other version (mv COPY PATH) or keep the current one (rm \
            COPY). With --json, an array of {path, copy, keptHash, keptSize, otherHash, otherSize}.
            """,
        files: stateFiles,
        examples: [("sync conflicts ~/Documents", "list the conflicts of a folder")],
        seeAlso: ["sync-pull", "sync-restore"])

    @Argument(help: "The folder: its id, path or name (default: every folder).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    struct Row: Encodable {
        let folder: String; let path: String; let copy: String
        let keptHash: String?; let keptSize: Int64?; let otherHash: String?; let otherSize: Int64
    }

    public func run() throws {
        try reporting("sync-conflicts") {
            let state = StateDirectory.fromEnvironment()
            let folders = try folder.map { [try state.folder($0)] } ?? state.folders()
            var rows: [Row] = []
            for f in folders {
                let index = try FolderIndex(path: f.indexPath)
                for e in try index.allEntries() where !e.deleted && e.kind != .directory {
                    guard let original = Reconcile.original(ofCopy: e.path) else { continue }
                    let kept = try index.entry(original)
                    let live = kept.flatMap { $0.deleted ? nil : $0 }
                    rows.append(Row(folder: f.id.rawValue, path: original.rawValue, copy: e.path.rawValue,
                                    keptHash: live?.hash, keptSize: live?.size, otherHash: e.hash, otherSize: e.size))
                }
            }
            if json { return emit(try SyncCommands.json(rows)) }
            let roots = Dictionary(uniqueKeysWithValues: folders.map { ($0.id.rawValue, $0.root) })
            for r in rows {
                let root = roots[r.folder] ?? ""
                let p = shellQuote(root + "/" + r.path), c = shellQuote(root + "/" + r.copy)
                emit("conflict \(PathQuoting.quote(r.path))")
                emit("  kept:  \(PathQuoting.quote(r.path)) (\(r.keptSize.map { Units.formatBytes($0) } ?? "deleted"), \(r.keptHash.map { String($0.prefix(7)) } ?? "-"))")
                emit("  other: \(PathQuoting.quote(r.copy)) (\(Units.formatBytes(r.otherSize)), \(r.otherHash.map { String($0.prefix(7)) } ?? "-"))")
                emit("  keep the other version:  mv \(c) \(p)")
                emit("  keep the current version: rm \(c)")
            }
        }
    }
}
