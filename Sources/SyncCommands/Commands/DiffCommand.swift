import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

public struct DiffCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-diff",
        abstract: "Show what changed between two recorded states of a folder.",
        discussion: """
            With one REVISION, what that change did (against the commit before it); with two, everything \
            from the first to the second. REVISION is a commit id or prefix, `HEAD`, `HEAD~N`, or a sequence number as sync log prints it. A PATH \
            limits the diff to that file or directory (taken literally, no patterns). The folder is \
            --folder, else the one around PATH or the working directory.
            """)
    public static let manual = Manual(
        output: """
            A unified diff in git's patch format (3 lines of context). Binary files are not shown byte by \
            byte: `Binary files a/PATH and b/PATH differ (OLD -> NEW bytes)`. A file above \
            history.max-blob is kept as a pointer, whose lines (its id and size) are what the diff shows.
            """,
        exitStatus: "0 on success (also when nothing differs: no output); 1 when a commit is not in history; 2 on a usage error.",
        files: stateFiles,
        examples: [("sync diff HEAD", "what the newest change did, in the folder around the working directory"),
                   ("sync diff HEAD~10 HEAD notes/", "ten changes of one directory at once"),
                   ("sync diff --folder ~/Documents 3f2a1c9 report.txt", "one change of one file")],
        seeAlso: ["sync-log", "sync-show", "sync-versions"])

    @Argument(help: "REVISION, or REVISION REVISION, then an optional PATH.")
    var arguments: [String]

    @Option(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String?

    public init() {}

    public mutating func validate() throws {
        guard (1...3).contains(arguments.count) else { throw ValidationError("usage: sync diff REVISION [REVISION] [PATH]") }
    }

    public func run() throws {
        try reporting("sync-diff") {
            let state = StateDirectory.fromEnvironment()
            var args = arguments
            // A last argument that names a path in a folder (or is a third argument) is the PATH.
            var pathText: String?
            if args.count == 3 || (args.count == 2 && FileManager.default.fileExists(atPath: args[1])) { pathText = args.removeLast() }
            let f: Folder, rel: RelativePath?
            if let folder {
                (f, rel) = try folderAndPath(folder, pathText, state: state)
            } else if let pathText {
                (f, rel) = try folderAndPath(pathText, nil, state: state)
            } else {
                (f, rel) = (try resolveFolder(nil, state: state), nil)
            }
            let queries = HistoryQueries(try FolderContext(f, state: state))
            var revisions: [ObjectID] = []
            for (i, r) in args.enumerated() {
                do { revisions.append(try queries.resolve(r)) } catch {
                    // `sync diff REV PATH` with a PATH that no longer exists on disk.
                    guard i == 1, pathText == nil, args.count == 2 else { throw error }
                    return try diffOf(queries, f, [revisions[0]], try folderAndPath(f.id.rawValue, r, state: state).1)
                }
            }
            try diffOf(queries, f, revisions, rel)
        }
    }

    private func diffOf(_ queries: HistoryQueries, _ f: Folder, _ revisions: [ObjectID], _ rel: RelativePath?) throws {
        let text = revisions.count == 2
            ? try queries.diff(from: revisions[0], to: revisions[1], path: rel)
            : try queries.diff(from: nil, to: revisions[0], path: rel)
        writeAll(text)
    }
}
