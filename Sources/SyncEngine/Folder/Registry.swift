import Foundation
import SyncCore
import SyncGit

/// Registering folders with a node: every check first, then an all-or-nothing creation.
public enum Registry {
    /// Registers the directory at `path` as a new folder and returns it. Nothing is written when a check fails.
    public static func initFolder(at path: String, name: String? = nil, id given: FolderID? = nil,
                                  state: StateDirectory) throws -> Folder {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SyncError.noSuchPath(path) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw SyncError.notADirectory(path) }
        let canon = FileSystem.canonical(path)
        if FileSystem.isWithin(canon, state.root) {
            throw SyncError.insideStateDirectory(path: canon, stateDirectory: state.root)
        }
        for f in try state.folders() {
            let other = FileSystem.canonical(f.root)
            if FileSystem.isWithin(canon, other) || FileSystem.isWithin(other, canon) {
                throw SyncError.folderOverlaps(path: canon, folder: f.id.rawValue, existing: f.root)
            }
        }
        var config = FolderConfig(path: canon)
        if let name { try config.set("name", name) }

        let id = given ?? FolderID.random()
        if FileManager.default.fileExists(atPath: state.foldersPath + "/" + id.rawValue) {
            throw SyncError.refused("folder \(id): already registered on this node")
        }
        try FileSystem.makeDirectories(state.foldersPath, mode: 0o700)
        let tmp = state.foldersPath + "/.init-" + id.rawValue
        let final = state.foldersPath + "/" + id.rawValue
        do {
            try FileSystem.makeDirectories(tmp, mode: 0o700)
            try FileSystem.writeAtomically(Array(config.text.utf8), to: tmp + "/config")
            _ = try FolderIndex(path: tmp + "/index.db")
            _ = try HistoryRepository.create(at: tmp + "/history.git", worktree: canon)
            guard rename(tmp, final) == 0 else { throw SyncError.io(path: final, operation: "rename", errno: errno) }
            FileSystem.syncDirectory(state.foldersPath)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            if let g = error as? GitError { throw SyncError.history(path: tmp, message: g.description) }
            throw error
        }
        return try Folder(id: id, stateDirectory: state)
    }

    /// Unregisters `folder` from this node; its files are not touched. Its state (history, index,
    /// settings, allowed keys) is kept under SYNC_DIR/forgotten/ID-TIME unless `dropHistory`, then
    /// removed. Taken under the folder lock, so no commit or pull is halfway. Returns where the state
    /// was kept (nil: removed).
    @discardableResult
    public static func forget(_ folder: Folder, state: StateDirectory, dropHistory: Bool = false) throws -> String? {
        let lock = try FileLock(path: folder.lockPath)
        defer { _ = lock }
        let kept = state.root + "/forgotten"
        try FileSystem.makeDirectories(kept, mode: 0o700)
        var stamp = tm()
        var now = time(nil)
        gmtime_r(&now, &stamp)
        let name = folder.id.rawValue + String(format: "-%04d%02d%02dT%02d%02d%02dZ", stamp.tm_year + 1900, stamp.tm_mon + 1,
                                                stamp.tm_mday, stamp.tm_hour, stamp.tm_min, stamp.tm_sec)
        var target = kept + "/" + name
        var n = 1
        while FileManager.default.fileExists(atPath: target) { n += 1; target = kept + "/" + name + "-\(n)" }
        // One rename: the folder is registered or it is not, never half.
        guard rename(folder.directory, target) == 0 else { throw SyncError.io(path: folder.directory, operation: "rename", errno: errno) }
        FileSystem.syncDirectory(state.foldersPath)
        FileSystem.syncDirectory(kept)
        guard dropHistory else { return target }
        do { try FileManager.default.removeItem(atPath: target) } catch {
            throw SyncError.io(path: target, operation: "remove", errno: Int32((error as NSError).code))
        }
        return nil
    }
}
