import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct FoldersCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-folders",
        abstract: "List the folders of this node.")
    public static let manual = Manual(
        output: "One line per folder: the folder id, its state (ok, paused or missing) and its path, separated by tabs. "
            + "With --json, an array of objects with the keys id, name, path and state.",
        files: stateFiles,
        examples: [("sync folders", "list the folders")],
        seeAlso: ["sync-init", "sync-status"])

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    struct Row: Encodable { let id: String; let name: String; let path: String; let state: String }

    public func run() throws {
        try reporting("sync-folders") {
            let folders = try StateDirectory.fromEnvironment().folders()
            if json {
                emit(try SyncCommands.json(folders.map { Row(id: $0.id.rawValue, name: $0.name, path: $0.root, state: $0.state.rawValue) }))
            } else {
                for f in folders { emit("\(f.id)\t\(f.state)\t\(PathQuoting.quote(f.root))") }
            }
        }
    }
}
