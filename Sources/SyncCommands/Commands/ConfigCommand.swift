import ArgumentParser
import Foundation
import SyncCore
import SyncEngine

public struct ConfigCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-config",
        abstract: "Read and change a folder's settings.",
        discussion: """
            With only FOLDER, prints every setting in force. With KEY, prints its value (every value of a \
            repeatable key, one per line). With KEY and VALUE, sets it. Keys: \
            \(FolderConfig.keys.map { "\($0.name) (\($0.summary)\($0.defaultValue.map { "; default \($0)" } ?? ""))" }.joined(separator: ", ")).
            """)
    public static let manual = Manual(
        output: "Settings as `key = value` lines; a single key's value alone.",
        exitStatus: "0 on success; 1 when the key has no value or the change was refused; 2 on a usage error.",
        files: "SYNC_DIR/folders/<id>/config, rewritten atomically.",
        examples: [("sync config ~/Documents", "show all settings"),
                   ("sync config ~/Documents debounce.quiet 500ms", "wait for half a second of quiet before committing"),
                   ("sync config --add ~/Documents ignore '*.tmp'", "ignore temporary files"),
                   ("sync config --unset ~/Documents ignore", "remove every ignore pattern")],
        seeAlso: ["sync-init", "sync-commit"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    @Argument(help: "The setting.", completion: .list(FolderConfig.keys.map(\.name)))
    var key: String?

    @Argument(help: "The new value.")
    var value: String?

    @Flag(help: "Add VALUE to a repeatable key instead of replacing it.")
    var add = false

    @Flag(help: "Remove the key (only VALUE, when given).")
    var unset = false

    public init() {}

    public mutating func validate() throws {
        if add && unset { throw ValidationError("--add and --unset exclude each other") }
        if (add || unset) && key == nil { throw ValidationError("--add and --unset need a KEY") }
        if add && value == nil { throw ValidationError("--add needs a VALUE") }
    }

    public func run() throws {
        try reporting("sync-config") {
            var f = try StateDirectory.fromEnvironment().folder(folder)
            guard let key else {
                for k in FolderConfig.keys {
                    let values = k.multiValued ? f.config.values(k.name) : f.config.value(k.name).map { [$0] } ?? []
                    for v in values { emit("\(k.name) = \(v)") }
                }
                for l in f.config.lines where !FolderConfig.keys.contains(where: { $0.name == l.key }) {
                    emit("\(l.key) = \(l.value)")
                }
                return
            }
            let k = try FolderConfig.key(key)
            if unset {
                try f.config.unset(key, value: value)
            } else if add {
                try f.config.add(key, value!)
            } else if let value {
                try f.config.set(key, value)
            } else {
                let values = k.multiValued ? f.config.values(key) : f.config.value(key).map { [$0] } ?? []
                if values.isEmpty { throw ExitCode(1) }
                values.forEach { emit($0) }
                return
            }
            try f.saveConfig()
        }
    }
}
