import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

public struct LogCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-log",
        abstract: "List the changes recorded in a folder's history.",
        discussion: """
            Newest first, one line per recorded change (commit). FOLDER defaults to the folder around the \
            working directory, or the only folder; a PATH limits the list to changes of that path or below it. \
            A single argument that is not a folder is taken as a PATH. --since and --until keep the changes \
            recorded in that span (bounds included; TIME is ISO 8601, `YYYY-MM-DD[ HH:MM[:SS]]` local time, \
            `@EPOCH`, `now`, `yesterday`, or `N UNIT ago` with UNIT s, m, h, d, w or a word: `3 min ago`, `2 days ago`). \
            With --all, the changes of every node, interleaved by the time each was made: this node's own, \
            and every change of the other nodes' authored histories that pulls fetched (relayed ones \
            included; see sync versions), each once; a change a pull recorded is listed from there \
            instead, unless the history of a node that made it is not kept here.
            """)
    public static let manual = Manual(
        output: """
            One line per commit, tab-separated: time (ISO 8601, UTC), sequence, commit id, and the first \
            changes (`A` added, `M` modified, `D` deleted, then the quoted path; `R OLD -> NEW` for a file \
            renamed or moved, its content the same) with `(+N more)`, and \
            `(and N pruned before it)` when sync prune folded earlier changes into it, and, for a change a \
            pull recorded, where it was made and which peer brought it: `(made on laptop)` when that peer \
            made it, `(made on laptop, from desktop)` when it came through another (nodes by the name they \
            gave, else the start of their id; where made is read off the version vectors: the nodes whose \
            counters went up). Nothing: made on this node. With --json, an array of objects with the keys \
            commit, sequence, time, node, changes (status and path), changeCount, squashed, pulledFrom (a node \
            id), pulledFromName, madeOn (node ids) and madeOnNames.
            """,
        files: stateFiles + " The history stays readable by git: git --git-dir=SYNC_DIR/folders/<id>/history.git log.",
        examples: [("sync log", "the history of the folder around the working directory"),
                   ("sync log ~/Documents notes/todo.txt", "the changes of one file"),
                   ("sync log --json -n 5 ~/Documents", "the last five changes, for scripts"),
                   ("sync log --all ~/Documents", "every node's changes, as each was made"),
                   ("sync log --since '2 d ago' --until '1 d ago' ~/Documents", "what changed the day before yesterday")],
        seeAlso: ["sync-show", "sync-versions", "sync-restore", "sync-commit"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String?

    @Argument(help: "A path in the folder.", completion: .file())
    var path: String?

    @Option(name: [.customShort("n"), .customLong("max-count")], help: "Show at most this many changes.")
    var count: Int?

    @Option(help: "Only changes recorded at or after TIME.")
    var since: String?

    @Option(help: "Only changes recorded at or before TIME.")
    var until: String?

    @Flag(help: "Every node's changes, from the authored histories kept here, by the time they were made.")
    var all = false

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if let count, count < 1 { throw ValidationError("--max-count must be at least 1") }
        for (name, value) in [("--since", since), ("--until", until)] {
            if let v = value, parseTime(v) == nil {
                throw ValidationError("\(name) \(v): not a time (\(timeForms))")
            }
        }
    }

    public func run() throws {
        try reporting("sync-log") {
            let state = StateDirectory.fromEnvironment()
            let (f, rel) = try folderAndPath(folder, path, state: state)
            let queries = try HistoryQueries(FolderContext(f, state: state))
            let (from, to) = (since.flatMap { parseTime($0) }, until.flatMap { parseTime($0) })
            let entries = all ? try queries.logAll(path: rel, limit: count, since: from, until: to)
                              : try queries.log(path: rel, limit: count, since: from, until: to)
            let named = LogEntry.named(entries, names: NodeNames(state))
            if json { emit(try SyncCommands.json(named)) } else { named.forEach { emit($0.line) } }
        }
    }
}
