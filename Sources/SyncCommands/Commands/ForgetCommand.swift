import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct ForgetCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-forget",
        abstract: "Stop syncing a folder on this node, keeping its files.",
        discussion: """
            Unregisters FOLDER from this node: it is no longer watched, recorded, pulled or served (a running \
            sync up stops its pipeline and links within seconds), and the peers allowed only for it lose \
            their line in authorized_keys. The folder's files are not touched. Its history, index and \
            settings are kept under SYNC_DIR/forgotten/ID-TIME (read the history there with git \
            --git-dir=.../history.git log), unless --drop-history removes them. To sync the directory \
            again, sync init it (with --id ID to rejoin the same folder of its peers).
            """)
    public static let manual = Manual(
        output: "`forgot ID PATH`, then where the history was kept, or that it was removed.",
        files: stateFiles + " Forgotten folders: SYNC_DIR/forgotten/ID-TIME/.",
        examples: [("sync forget ~/Old", "stop syncing ~/Old; its files and history stay"),
                   ("sync forget --drop-history ~/Old", "the same, and remove its history from this node")],
        seeAlso: ["sync-init", "sync-folders", "sync-keys"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    @Flag(help: "Also remove the folder's history, index and settings from this node.")
    var dropHistory = false

    public init() {}

    public func run() throws {
        try reporting("sync-forget") {
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            let kept = try Registry.forget(f, state: state, dropHistory: dropHistory)
            try rewriteAuthorizedKeys(state)
            emit("forgot \(f.id) \(PathQuoting.quote(f.root))")
            emit(kept.map { "history kept in \($0)" } ?? "history removed")
        }
    }
}
