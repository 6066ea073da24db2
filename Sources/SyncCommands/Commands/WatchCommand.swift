import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct WatchCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-watch",
        abstract: "Print a line for every change in a folder (inotify).",
        discussion: """
            Watches the folder recursively, directories that appear included, and prints one line per \
            changed path, to be read by sync-commit. Ignored paths are not reported. A directory that \
            appears (made, or moved in) is watched before it is listed, and everything the listing finds \
            in it is reported too, so a `mkdir -p` chain or an unpacked archive is seen to its last file. It prints `rescan` \
            once everything is watched, and again when the kernel's event queue overflows or the watch \
            limit is reached, so that the reader looks at the whole folder. It runs until the folder goes \
            away, or its output is closed.
            """)
    public static let manual = Manual(
        output: """
            `rescan`, `change PATH`, or `writing PATH` for a file written to and not closed yet (its close \
            is a `change` line), with PATH relative to the folder root. A path with a newline, tab, \
            double quote, backslash or control character, or with a leading or trailing space, is written \
            in double quotes with C escapes (\\n, \\t, \\", \\\\, \\ooo), as git quotes paths.
            """,
        exitStatus: "1 when the folder cannot be watched or its root goes away; 2 on a usage error.",
        files: stateFiles + " The kernel limit on watches is fs.inotify.max_user_watches.",
        examples: [("sync-watch ~/Documents | sync-commit ~/Documents", "record every change as it happens")],
        seeAlso: ["sync-commit"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    public init() {}

    public func run() throws {
        try reporting("sync-watch") {
            signal(SIGPIPE, SIG_DFL)
            stopWithDaemon()
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            let context = try FolderContext(f, state: state)
            let watcher = try Watcher(scanner: context.scanner())
            watcher.warn = { warn("sync-watch: \($0)") }
            try watcher.run { events in
                writeAll(events.map { $0.line + "\n" }.joined())
            }
        }
    }
}
