import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

public struct ShowCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-show",
        abstract: "Show a recorded change, or a file as it was.",
        discussion: """
            REVISION is a commit id (or a unique prefix), `HEAD` for the newest, `HEAD~N`, or a sequence number as sync log prints it. With `:PATH` \
            it prints that file's content as it was in that commit (a directory is listed instead).
            """)
    public static let manual = Manual(
        output: """
            For a commit: `commit`, `parent`, `date`, `node` and `sequence` lines, a blank line, then one \
            line per change. For a file: its bytes. For a directory: `<mode> <object id>\\t<path>` lines.
            """,
        exitStatus: "0 on success; 1 when the commit or path is not in history, or a large file's content is "
            + "kept neither in the version store nor in the folder; 2 on a usage error.",
        files: stateFiles,
        examples: [("sync show HEAD", "the newest change of the folder around the working directory"),
                   ("sync show --folder ~/Documents HEAD~3:notes/todo.txt > old.txt", "an old version of a file")],
        seeAlso: ["sync-log", "sync-restore"])

    @Argument(help: "REVISION or REVISION:PATH.")
    var object: String

    @Option(help: "The folder: its id, path or name (default: the folder around the working directory).",
            completion: .directory)
    var folder: String?

    public init() {}

    public func run() throws {
        try reporting("sync-show") {
            let state = StateDirectory.fromEnvironment()
            let f = try resolveFolder(folder, state: state)
            let queries = HistoryQueries(try FolderContext(f, state: state))
            let parts = object.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let commit = try queries.resolve(String(parts[0]))
            guard parts.count == 2 else { writeAll(try queries.describe(commit)); return }
            if parts[1].isEmpty || parts[1] == "/" {
                // `REV:` lists the folder's top level, as git does.
                let tree = try queries.tree(of: commit)
                try queries.listing(tree, prefix: "").forEach { emit($0) }
                return
            }
            let path = try RelativePath(String(parts[1]))
            guard let entry = try queries.entry(commit, path: path) else {
                throw SyncError.notFound("folder \(f.id): \(path) in commit \(commit.short)")
            }
            if entry.mode == .directory {
                try queries.listing(entry.id, prefix: path.rawValue).forEach { emit($0) }
            } else {
                try queries.write(blob: entry.id, path: path, to: 1)
            }
        }
    }
}
