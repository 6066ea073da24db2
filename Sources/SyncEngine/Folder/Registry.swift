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
}
