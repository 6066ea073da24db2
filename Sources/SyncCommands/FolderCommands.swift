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
                   ("sync init --name photos /srv/photos", "register with a label")],
        seeAlso: ["sync-folders", "sync-config", "sync-commit"])

    @Argument(help: "The directory to register.", completion: .directory)
    var path: String

    @Option(help: "A label for the folder (sync config FOLDER name).")
    var name: String?

    public init() {}

    public func run() throws {
        try reporting("sync-init") {
            let folder = try Registry.initFolder(at: path, name: name, state: .fromEnvironment())
            emit(folder.id.rawValue)
        }
    }
}

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
                emit(try SyncCommands.json(folders.map { Row(id: $0.id.rawValue, name: $0.name, path: $0.root, state: $0.state) }))
            } else {
                for f in folders { emit("\(f.id)\t\(f.state)\t\(PathQuoting.quote(f.root))") }
            }
        }
    }
}

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

public struct StatusCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-status",
        abstract: "Show the state of folders.",
        discussion: """
            For each folder (or the one named): its path, state, number of files and bytes recorded, its \
            sequence number, its last commit, and how many paths changed on disk since (pending). Finding \
            the pending paths reads no file contents.
            """)
    public static let manual = Manual(
        output: "A block of `key: value` lines per folder; with --json an array of objects with the keys id, name, "
            + "path, state, files, bytes, sequence, lastCommit, lastCommitTime and pending.",
        files: stateFiles,
        examples: [("sync status", "every folder"), ("sync status --json ~/Documents", "one folder, for scripts")],
        seeAlso: ["sync-folders", "sync-commit", "sync-log"])

    @Argument(help: "The folder: its id, path or name (default: every folder).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    public func run() throws {
        try reporting("sync-status") {
            let state = StateDirectory.fromEnvironment()
            let folders = try folder.map { [try state.folder($0)] } ?? state.folders()
            let statuses = try folders.map { try FolderStatus(FolderContext($0, state: state)) }
            if json { emit(try SyncCommands.json(statuses)) } else { emit(statuses.map(\.text).joined(separator: "\n\n")) }
        }
    }
}

public struct KeysCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-keys",
        abstract: "Show this node's identity.",
        discussion: """
            ACTION is `id`: prints this node's id (the base32 SHA-256 of its ed25519 public key) and its \
            public key line, creating the key pair on first use. Access control (allow, deny, invite) comes \
            with peers.
            """)
    public static let manual = Manual(
        output: "`id`: the node id on the first line, then the OpenSSH public key line, then its SHA256 fingerprint.",
        files: "SYNC_DIR/node/id_ed25519 (OpenSSH private key, mode 0600) and id_ed25519.pub.",
        examples: [("sync keys id", "print this node's id and public key")],
        seeAlso: ["sync-init"])

    @Argument(help: "What to do: id.", completion: .list(["id"]))
    var action: String

    public init() {}

    public mutating func validate() throws {
        guard action == "id" else { throw ValidationError("unknown action '\(action)'; known: id") }
    }

    public func run() throws {
        try reporting("sync-keys") {
            let identity = try StateDirectory.fromEnvironment().identity()
            emit(identity.id.rawValue)
            emit(identity.publicKeyLine)
            emit(identity.fingerprint)
        }
    }
}
