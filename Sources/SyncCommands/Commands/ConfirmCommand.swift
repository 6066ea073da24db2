import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

public struct ConfirmCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-confirm",
        abstract: "Let a change that the deletion guard held back go to peers.",
        discussion: """
            When one recorded change deletes more than guard.deletions (50% by default) of a folder's \
            files, and at least guard.min-deletions (100) of them, sync-commit records it here but holds \
            it back: peers are not told of it and pulling from this node does not bring it (nor any \
            change recorded after it), so a slip such as rm -rf in the wrong directory stays on this \
            node. sync restore --at brings the files back; sync confirm lets the deletion, and what came \
            after it, go to peers as usual. sync status shows a held change.
            """)
    public static let manual = Manual(
        output: "`released FOLDER-ID from sequence N`, or `nothing held FOLDER-ID`.",
        files: stateFiles,
        examples: [("sync confirm ~/Documents", "spread the large deletion made in ~/Documents"),
                   ("sync restore ~/Documents --at HEAD~1", "or undo it instead (then confirm the restore)")],
        seeAlso: ["sync-status", "sync-restore", "sync-config", "sync-daemon"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    public init() {}

    public func run() throws {
        try reporting("sync-confirm") {
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            let index = try FolderIndex(path: f.indexPath)
            guard let from = try index.release() else { return emit("nothing held \(f.id)") }
            // The links of this node tell their peers at once.
            try? NoticeBoard(state).post(f.id, sequence: try index.sequence())
            emit("released \(f.id) from sequence \(from)")
        }
    }
}
