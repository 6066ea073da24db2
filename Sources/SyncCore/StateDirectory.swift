import Foundation
import Synchronization

/// The scratch directories this process has swept.
private let swept = Mutex<Set<String>>([])

/// One node's state directory (`SYNC_DIR`): its identity and its folders.
public struct StateDirectory: Sendable {
    public let root: String

    public init(root: String) { self.root = FileSystem.canonical(root) }

    /// `SYNC_DIR`, else `$XDG_DATA_HOME/sync`, else `~/.local/share/sync`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> StateDirectory {
        if let d = env["SYNC_DIR"], !d.isEmpty { return StateDirectory(root: d) }
        if let x = env["XDG_DATA_HOME"], x.hasPrefix("/") { return StateDirectory(root: x + "/sync") }
        let home = env["HOME"] ?? NSHomeDirectory()
        return StateDirectory(root: home + "/.local/share/sync")
    }

    public var nodePath: String { root + "/node" }
    public var foldersPath: String { root + "/folders" }

    /// A fresh name for scratch files in SYNC_DIR/tmp (made if missing): `tmp/<kind>-<pid>-<random>`.
    /// The first call of a process removes what processes that are gone left there.
    public func temporaryPath(_ kind: String) throws -> String {
        let dir = root + "/tmp"
        try FileSystem.makeDirectories(dir, mode: 0o700)
        if swept.withLock({ $0.insert(dir).inserted }) { Self.sweep(dir) }
        return dir + "/" + kind + "-\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// Removes the scratch files in `dir` whose process is gone (a crash, a kill -9, a cut link),
    /// and any without a process id that are older than an hour.
    static func sweep(_ dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        let now = time(nil)
        for name in names {
            let parts = name.split(separator: "-")
            if parts.count == 3, let pid = pid_t(parts[1]), pid > 0 {
                if !FileSystem.processGone(pid) { continue }
            } else {
                var st = stat()
                guard lstat(dir + "/" + name, &st) == 0, now - st.st_mtim.tv_sec > 3600 else { continue }
            }
            unlink(dir + "/" + name)
        }
    }

    /// This node's identity, created on first use.
    public func identity() throws -> NodeIdentity { try NodeIdentity.loadOrCreate(in: nodePath) }

    /// Every registered folder, by id.
    public func folders() throws -> [Folder] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: foldersPath) else { return [] }
        return try names.sorted().compactMap { name in
            guard let id = try? FolderID(name) else { return nil } // temporaries of an unfinished init
            return try Folder(id: id, stateDirectory: self)
        }
    }

    /// The folder named by `reference`: a folder id, or the path of a folder's root.
    public func folder(_ reference: String) throws -> Folder {
        if let id = try? FolderID(reference), FileManager.default.fileExists(atPath: foldersPath + "/" + id.rawValue) {
            return try Folder(id: id, stateDirectory: self)
        }
        let canon = FileSystem.canonical(reference)
        let all = try folders()
        if let f = all.first(where: { $0.root == canon }) { return f }
        let named = all.filter { $0.name == reference }
        if named.count == 1 { return named[0] }
        if named.count > 1 { throw SyncError.ambiguousFolder(reference) }
        throw SyncError.unknownFolder(reference)
    }

    /// The folder that holds `path` (canonical or relative to the working directory) and the path inside it.
    public func folder(containing path: String) throws -> (Folder, RelativePath?)? {
        let canon = FileSystem.canonical(path)
        for f in try folders() where FileSystem.isWithin(canon, f.root) {
            if canon == f.root { return (f, nil) }
            let rel = String(canon.dropFirst(f.root == "/" ? 1 : f.root.count + 1))
            return (f, try RelativePath(rel))
        }
        return nil
    }
}

/// A registered folder: its id, settings and where its index and history live.
public struct Folder: Sendable {
    public let id: FolderID
    public let directory: String
    public var config: FolderConfig

    public init(id: FolderID, stateDirectory: StateDirectory) throws {
        self.id = id
        directory = stateDirectory.foldersPath + "/" + id.rawValue
        let file = directory + "/config"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SyncError.unknownFolder(id.rawValue)
        }
        config = try FolderConfig(parsing: String(decoding: data, as: UTF8.self), file: file)
    }

    public var root: String { config.path }
    var configPath: String { directory + "/config" }
    public var indexPath: String { directory + "/index.db" }
    /// A copy of the index's stat rows for rescans (`StatCache`).
    public var statCachePath: String { directory + "/stat-cache" }
    public var historyPath: String { directory + "/history.git" }
    public var lockPath: String { directory + "/lock" }
    public var name: String { config.value("name") ?? (root as NSString).lastPathComponent }

    public enum State: String, Sendable {
        case ok, paused
        /// The folder's path is gone (or not a directory).
        case missing
    }

    public var state: State {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: root, isDirectory: &isDir) || !isDir.boolValue { return .missing }
        return config.paused ? .paused : .ok
    }

    /// Writes the settings back atomically.
    public func saveConfig() throws {
        try FileSystem.writeAtomically(Array(config.text.utf8), to: configPath)
    }
}
