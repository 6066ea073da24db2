import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct CommitCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-commit",
        abstract: "Record a folder's changes in its index and history.",
        discussion: """
            Finds what changed from the size, modification time, change time and inode of each path (as \
            git's index does), hashes only those files (git blob ids), records them in the index in one \
            transaction (this node's counter bumped in each changed file's version vector, the folder's \
            sequence number advanced) and writes one history commit. A scan that finds more than 50,000 \
            changes records them in several commits of 50,000 each, in path order (additions and edits, a \
            moved file with the deletion of the path it left, then the other deletions), each a whole \
            snapshot of the folder as far as it went, so that memory stays bounded whatever the folder's \
            size.

            Run alone it scans the whole folder, or only the PATHs given. When standard input is a pipe (or \
            with --stdin) it reads sync-watch lines instead and commits until its input ends: a lone change \
            (the first after debounce.quiet without any, its files closed) within 15 ms, a burst of changes \
            (or a file still being written) after a quiet period (debounce.quiet) but no longer than \
            debounce.max after its first change. Ignore \
            patterns come from the folder's `ignore` settings and from .syncignore at the folder root, in \
            gitignore syntax. An unreadable file is reported and skipped; a file that changes while it is \
            read is retried. A directory that cannot be listed is reported, and nothing recorded below it \
            is taken for deleted.

            Every name the file system allows is recorded, a git checkout's `.git` too. History (a bare git \
            repository, SYNC_DIR/folders/<id>/history.git, which plain git reads) keeps the names git refuses \
            in a tree (`.git` in any case, `.git` followed by dots, spaces or `:`, `git~` and a digit, `.git` \
            with code points HFS+ ignores) and every name that starts with `%` under a reversible escape: \
            `%` and the hex UTF-8 bytes of the first character, each `%` in the name as `%25`. So `.git` is \
            stored as `%2Egit`, `git~1` as `%67it~1`, `%x` as `%25x`; a stored name that starts with `%` reads \
            back by decoding each `%XX`. sync log, show, versions, diff and restore use the real names.
            """)
    public static let manual = Manual(
        output: """
            One line per scan that recorded something: `<folder-id> <sequence> <commit>` (the last part's, \
            when it was recorded in parts). Nothing when nothing changed. Problems \
            (unreadable files, names that cannot be synchronized) go to standard error as \
            `sync-commit: folder <id>: <path>: <reason>`. With a terminal on standard error, a long commit \
            shows its progress there.
            """,
        files: stateFiles,
        examples: [("sync commit ~/Documents", "record everything that changed"),
                   ("sync-commit ~/Documents notes/todo.txt", "record one path"),
                   ("sync-watch ~/Documents | sync-commit ~/Documents", "record changes as they happen")],
        seeAlso: ["sync-watch", "sync-log", "sync-status", "sync-config"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    @Argument(help: "Paths to look at, relative to the folder root (default: all).", completion: .file())
    var paths: [String] = []

    @Flag(help: "Read sync-watch lines from standard input even when it is not a pipe.")
    var stdin = false

    @Flag(help: "Scan once even when standard input is a pipe.")
    var scan = false

    public init() {}

    public mutating func validate() throws {
        if stdin && scan { throw ValidationError("--stdin and --scan exclude each other") }
        if stdin && !paths.isEmpty { throw ValidationError("PATH arguments and --stdin exclude each other") }
    }

    public func run() throws {
        try reporting("sync-commit") {
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            var st = stat()
            let piped = fstat(0, &st) == 0 && ((st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK)
            if stdin || (piped && !scan && paths.isEmpty) {
                var loop = CommitLoop(folder: f.id, state: state)
                loop.onCommit = { emit($0.line) }
                loop.warn = { warn("sync-commit: folder \(f.id): \($0)") }
                try loop.run(input: 0)
                return
            }
            let rel = try paths.map { p -> RelativePath in
                let abs = p.hasPrefix("/") ? p : f.root + "/" + p
                guard let (owner, r) = try state.folder(containing: (abs as NSString).deletingLastPathComponent).map({ ($0.0, $0.1) }),
                      owner.id == f.id else { throw SyncError.invalidPath(p, reason: "not in folder \(f.id)") }
                let name = (abs as NSString).lastPathComponent
                return try r.map { try $0.appending(name) } ?? RelativePath(name)
            }
            var committer = Committer(try FolderContext(f, state: state))
            if let line = ProgressLine.ifTerminal() {
                committer.progress = { p in
                    line.show("sync-commit: hashing \(p.filesHashed)/\(p.filesToHash) files, "
                              + "\(Units.formatBytes(p.bytesHashed)) of \(Units.formatBytes(p.bytesToHash))",
                              done: p.filesHashed == p.filesToHash)
                }
            }
            let result = try committer.commit(paths: rel.isEmpty ? nil : rel)
            result?.problems.forEach { warn("sync-commit: folder \(f.id): \($0)") }
            if let m = result?.heldMessage { warn("sync-commit: folder \(f.id): \(m)") }
            if let result, result.commit != nil || !result.changes.isEmpty { emit(result.line) }
        }
    }
}
