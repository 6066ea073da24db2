import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

public struct NotifyCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-notify",
        abstract: "Tell peers that a folder moved, from sync-commit's lines.",
        discussion: """
            Reads `FOLDER-ID SEQUENCE COMMIT` lines (what sync-commit prints) and posts each new sequence \
            in SYNC_DIR/run/notices, where every open link of this node sees it at once (inotify) and \
            tells its peer: the links of sync pull --follow, and those sync-serve holds for peers that \
            follow this folder. A notice carries the folder id and the sequence only, and a peer that \
            holds that sequence already does nothing. For each peer of the folder (sync peer) that no \
            process of this node follows, it runs sync pull REMOTE in the background, which pulls from \
            the peer and then offers it this node's changes (--no-dial leaves them alone). Lines are \
            copied to standard output, so it can sit in the middle of a pipeline.
            """)
    public static let manual = Manual(
        output: "The lines read, unchanged. Problems on standard error.",
        exitStatus: "0 when its input ended, 1 when the folder is unknown, 2 on a usage error.",
        files: stateFiles + " Notices: SYNC_DIR/run/notices/FOLDER-ID. Links: SYNC_DIR/run/links/.",
        examples: [("sync-watch ~/Documents | sync-commit ~/Documents | sync-notify ~/Documents", "the pipeline sync up runs for a folder")],
        seeAlso: ["sync-commit", "sync-daemon", "sync-pull", "sync-peer"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    @Flag(help: "Do not run sync pull for peers that no link follows.")
    var noDial = false

    public init() {}

    public func run() throws {
        try reporting("sync-notify") {
            signal(SIGPIPE, SIG_IGN)
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            let notifier = Notifier(state: state, folder: f, dial: noDial ? nil : { remote in
                try? spawn(siblingExecutable("sync-pull"), ["sync-pull", remote], stdout: "/dev/null")
            })
            var lines = LineReader(0, what: "standard input")
            while let line = try? lines.next() {
                writeAll(line + "\n")
                do {
                    if try !notifier.take(line), !line.isEmpty {
                        warn("sync-notify: folder \(f.id): ignoring a line that is not FOLDER-ID SEQUENCE COMMIT: \(PathQuoting.quote(line))")
                    }
                } catch let e as SyncError { warn("sync-notify: \(e)") }
            }
        }
    }
}
