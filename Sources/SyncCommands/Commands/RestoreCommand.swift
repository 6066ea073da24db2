import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

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
            TIME is ISO 8601 (`2026-11-24T10:00:00Z`, `2026-11-24 10:00`), `@EPOCH`, `now`, `yesterday`, or `N UNIT ago` (UNIT s, m, h, d, w or a word: `3 min ago`, `2 days ago`).
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

    @Option(help: "A commit (id, prefix, HEAD~N, or a sequence number as sync log prints it) or a time.")
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
                if let time = parseTime(at) { commit = try queries.commit(atOrBefore: time) } else {
                    do { commit = try queries.resolve(at) } catch {
                        throw SyncError.malformed("--at \(at): neither a time (\(timeForms)) nor a commit of folder \(f.id)")
                    }
                }
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
