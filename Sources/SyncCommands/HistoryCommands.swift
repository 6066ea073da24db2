import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

/// A folder and a path in it, from the arguments `[FOLDER] [PATH]` as people write them.
func folderAndPath(_ first: String?, _ second: String?, state: StateDirectory) throws -> (Folder, RelativePath?) {
    func inFolder(_ f: Folder, _ p: String) throws -> RelativePath? {
        let abs = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
        if let (owner, rel) = try state.folder(containing: abs), owner.id == f.id { return rel }
        if !p.hasPrefix("/"), (try? state.folder(containing: FileManager.default.currentDirectoryPath))??.0.id != f.id {
            return try RelativePath(p) // relative to the folder root when the working directory is elsewhere
        }
        throw SyncError.invalidPath(p, reason: "not in folder \(f.id)")
    }
    if let first, let second { let f = try state.folder(first); return (f, try inFolder(f, second)) }
    if let first {
        if let f = try? state.folder(first) { return (f, nil) }
        let abs = first.hasPrefix("/") ? first : FileManager.default.currentDirectoryPath + "/" + first
        if let (f, rel) = try state.folder(containing: abs) { return (f, rel) }
        throw SyncError.unknownFolder(first)
    }
    return (try resolveFolder(nil, state: state), nil)
}

public struct LogCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-log",
        abstract: "List the changes recorded in a folder's history.",
        discussion: """
            Newest first, one line per recorded change (commit). FOLDER defaults to the folder around the \
            working directory, or the only folder; a PATH limits the list to changes of that path or below it. \
            A single argument that is not a folder is taken as a PATH. --since and --until keep the changes \
            recorded in that span (bounds included; TIME is ISO 8601, `YYYY-MM-DD[ HH:MM[:SS]]` local time, \
            `@EPOCH`, or `N{s,m,h,d,w} ago`).
            """)
    public static let manual = Manual(
        output: """
            One line per commit, tab-separated: time (ISO 8601, UTC), sequence, commit id, and the first \
            changes (`A` added, `M` modified, `D` deleted, then the quoted path) with `(+N more)`, and \
            `(and N pruned before it)` when sync prune folded earlier changes into it. With --json, an array \
            of objects with the keys commit, sequence, time, node, changes (status and path), changeCount \
            and squashed.
            """,
        files: stateFiles + " The history stays readable by git: git --git-dir=SYNC_DIR/folders/<id>/history.git log.",
        examples: [("sync log", "the history of the folder around the working directory"),
                   ("sync log ~/Documents notes/todo.txt", "the changes of one file"),
                   ("sync log --json -n 5 ~/Documents", "the last five changes, for scripts"),
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

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if let count, count < 1 { throw ValidationError("--max-count must be at least 1") }
        for (name, value) in [("--since", since), ("--until", until)] {
            if let v = value, parseTime(v) == nil {
                throw ValidationError("\(name) \(v): not a time (ISO 8601, YYYY-MM-DD[ HH:MM[:SS]], @EPOCH or 'N{s,m,h,d,w} ago')")
            }
        }
    }

    public func run() throws {
        try reporting("sync-log") {
            let state = StateDirectory.fromEnvironment()
            let (f, rel) = try folderAndPath(folder, path, state: state)
            let entries = try HistoryQueries(FolderContext(f, state: state)).log(path: rel, limit: count,
                                                                                  since: since.flatMap { parseTime($0) },
                                                                                  until: until.flatMap { parseTime($0) })
            if json { emit(try SyncCommands.json(entries)) } else { entries.forEach { emit($0.line) } }
        }
    }
}

public struct VersionsCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-versions",
        abstract: "List every version of a file that history keeps.",
        discussion: """
            Newest first, one line per recorded change of the file at PATH (in the folder around it, or \
            in --folder), its deletions included. Any version listed as `history`, `versions` or `link` \
            comes back with sync restore --at COMMIT PATH, or is printed by sync show COMMIT:PATH.
            """)
    public static let manual = Manual(
        output: """
            One line per version, tab-separated: time (ISO 8601, UTC), commit id, status (`A`, `M`, `D`), \
            size in bytes (`-` for a deletion), and how it is kept: `history` (the content is in history), \
            `versions` (a file above history.max-blob: history keeps its id and size, and its content is in \
            the folder's version store or in the folder now), `pointer` (such a file whose content is kept \
            nowhere any more: it cannot come back), `link` (a symbolic link's target), `deleted`. With \
            --json, an array of objects with the keys commit, time, node, status, blob, size, kept and \
            recoverable (true for `history`, `versions` and `link`).
            """,
        exitStatus: "0 on success (also when the path was never recorded: no lines); 1 when the path is a directory or not in a folder; 2 on a usage error.",
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
            guard let rel else { throw SyncError.invalidArgument("\(path): the folder itself; name a file in it") }
            let versions = try HistoryQueries(FolderContext(f, state: state)).versions(of: rel)
            if json { emit(try SyncCommands.json(versions)) } else { versions.forEach { emit($0.line) } }
        }
    }
}

public struct DiffCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-diff",
        abstract: "Show what changed between two recorded states of a folder.",
        discussion: """
            With one REVISION, what that change did (against the commit before it); with two, everything \
            from the first to the second. REVISION is a commit id or prefix, `HEAD` or `HEAD~N`. A PATH \
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

public struct ShowCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-show",
        abstract: "Show a recorded change, or a file as it was.",
        discussion: """
            REVISION is a commit id (or a unique prefix), `HEAD` for the newest, or `HEAD~N`. With `:PATH` \
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

public struct RestoreCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-restore",
        abstract: "Bring back an earlier version of a file or directory.",
        discussion: """
            Writes PATH as it was at the given commit or time, as a new change: the current version is \
            committed first, so it stays in history, and each file is written to a temporary file, checked \
            against its hash, synced and renamed into place, never over a file that changed meanwhile. \
            Without --at, PATH comes back as it was before its latest change (a deleted file reappears). \
            PATH may be a directory or the folder itself: it is then made exactly as it was, so files and \
            directories made in it since are removed (their last versions stay in history; --keep-new \
            keeps them), ignored files excepted. The restore spreads to peers like any change; one that \
            deletes many files is held by the deletion guard until sync confirm. \
            TIME is ISO 8601 (`2026-11-24T10:00:00Z`, `2026-11-24 10:00`), `@EPOCH`, or `N{s,m,h,d,w} ago`.
            """)
    public static let manual = Manual(
        output: "The commit line of the restoring change, `<folder-id> <sequence> <commit>`, or nothing when "
            + "PATH already is as it was.",
        exitStatus: "0 on success; 1 when PATH is not in the folder or not in that commit, or could not be written "
            + "safely; 2 on a usage error.",
        files: stateFiles,
        examples: [("sync restore ~/Documents/notes/todo.txt", "undo the latest change of a file"),
                   ("sync restore --at '2 d ago' ~/Documents/report", "a directory as it was two days ago"),
                   ("sync restore --at 3f2a1c9 ~/Documents/a.txt", "a file as it was in a commit"),
                   ("sync restore --at '2026-11-20 18:00' ~/Documents", "the whole folder as it was then")],
        seeAlso: ["sync-log", "sync-show"])

    @Argument(help: "The file or directory, as a path on this machine.", completion: .file())
    var path: String

    @Option(help: "A commit (id, prefix, HEAD~N) or a time.")
    var at: String?

    @Flag(help: "Restoring a directory, keep the files made in it since.")
    var keepNew = false

    public init() {}

    public func run() throws {
        try reporting("sync-restore") {
            let state = StateDirectory.fromEnvironment()
            guard let (f, rel) = try state.folder(containing: path) else {
                throw SyncError.invalidPath(path, reason: "in no folder")
            }
            let context = try FolderContext(f, state: state)
            let queries = HistoryQueries(context)
            let commit: ObjectID
            if let at {
                if let time = parseTime(at) { commit = try queries.commit(atOrBefore: time) } else { commit = try queries.resolve(at) }
            } else if let rel {
                _ = try Committer(context).commit(paths: [rel])
                guard let latest = try queries.log(path: rel, limit: 1).first,
                      let parent = try context.history.commit(ObjectID(hex: latest.commit)).parents.first else {
                    throw SyncError.notFound("\(path): an earlier version")
                }
                commit = parent
            } else {
                // The whole folder as it was before its latest change.
                _ = try Committer(context).commit()
                commit = try queries.resolve("HEAD~1")
            }
            if let result = try Restorer(context).restore(rel, at: commit, keepNew: keepNew) { emit(result.line) }
        }
    }
}

public struct PruneCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-prune",
        abstract: "Expire old versions from a folder's history and repack what stays.",
        discussion: """
            Drops the versions (recorded changes) that the folder's retention expires, rewriting this \
            node's history only (each node's history is its own), then writes one new pack of what stays \
            and removes every other object. A version goes as soon as any bound set expires it; the newest \
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
