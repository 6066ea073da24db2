import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

public struct VersionsCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-versions",
        abstract: "List every version of a file that history keeps.",
        discussion: """
            Newest first, one line per recorded change of the file at PATH (in the folder around it, or \
            in --folder), its deletions included: the changes this node's history holds, and the changes \
            other nodes made, from their authored histories, which each pull fetches from the peer \
            (relayed: a node never met directly is listed too; refs/peers/NODE/authored in history.git). \
            A version a pull brought here and that is also in the history of the node that made it is \
            listed once, at the time it was made. Any version listed as `history`, `versions` or `link` \
            comes back with sync restore --at COMMIT PATH, or is printed by sync show COMMIT:PATH.
            """)
    public static let manual = Manual(
        output: """
            One line per version, tab-separated: time (ISO 8601, UTC), commit id, status (`A`, `M`, `D`, `R`), \
            size in bytes (`-` for a deletion), and how it is kept: `history` (the content is in history), \
            `versions` (a file above history.max-blob: history keeps its id and size, and its content is in \
            the folder's version store or in the folder now), `pointer` (such a file whose content is kept \
            nowhere any more: it cannot come back), `link` (a symbolic link's target), `deleted`; then, for \
            a version a pull brought, where it was made, as sync log says it: `(made on laptop, from \
            desktop)`. With --json, an array of objects with the keys commit, time, node, status, blob, \
            size, kept, recoverable (true for `history`, `versions` and `link`), pulledFrom, pulledFromName \
            and madeOn.
            """,
        exitStatus: "0 on success; 1 when the path was never recorded (nothing printed on standard output), is a directory or is not in a folder; 2 on a usage error.",
        files: stateFiles,
        examples: [("sync versions ~/Documents/report.odt", "every kept version of a file"),
                   ("sync restore --at 3f2a1c9 ~/Documents/report.odt", "then bring one back")],
        seeAlso: ["sync-log", "sync-show", "sync-restore"])

    @Argument(help: "The file.", completion: .file())
    var path: String

    @Option(help: "The folder: its id, path or name (default: the folder around PATH).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public func run() throws {
        try reporting("sync-versions") {
            let state = StateDirectory.fromEnvironment()
            let (f, rel) = try folder.map { try folderAndPath($0, path, state: state) } ?? folderAndPath(path, nil, state: state)
            guard let rel else { throw SyncError.refused("\(path): the folder itself; name a file in it") }
            let versions = try HistoryQueries(FolderContext(f, state: state)).versions(of: rel)
            guard !versions.isEmpty else {
                throw SyncError.notFound("\(PathQuoting.quote(rel.rawValue)) (never recorded in folder \(f.id))")
            }
            let named = FileVersion.named(versions, names: NodeNames(state))
            if json { emit(try SyncCommands.json(named)) } else { named.forEach { emit($0.line) } }
        }
    }
}
