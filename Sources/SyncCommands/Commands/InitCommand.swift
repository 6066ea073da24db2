import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct InitCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-init",
        abstract: "Register a directory as a synchronized folder.",
        discussion: """
            Gives the directory a new folder id and creates its settings, its index and its history \
            repository in the state directory. Nothing is written when the path does not exist, is not a \
            directory, lies inside or around a folder already registered, or lies in the state directory.
            """)
    public static let manual = Manual(
        output: "The new folder id, one line.",
        files: stateFiles,
        examples: [("sync init ~/Documents", "register ~/Documents and print its folder id"),
                   ("sync init --id 7qk2m4r9x3b5c8dt ~/Shared", "register a folder a peer shares, under its id"),
                   ("sync init --name photos /srv/photos", "register with a label")],
        seeAlso: ["sync-folders", "sync-config", "sync-commit"])

    @Argument(help: "The directory to register.", completion: .directory)
    var path: String

    @Option(help: "A label for the folder (sync config FOLDER name).")
    var name: String?

    @Option(help: "Use this folder id (the id the folder has on a peer) instead of a new one.")
    var id: String?

    public init() {}

    public mutating func validate() throws {
        if let id, (try? FolderID(id)) == nil { throw ValidationError("\(id): not a folder id") }
    }

    public func run() throws {
        try reporting("sync-init") {
            let folder = try Registry.initFolder(at: path, name: name, id: id.map { try FolderID($0) },
                                                 state: .fromEnvironment())
            emit(folder.id.rawValue)
        }
    }
}
