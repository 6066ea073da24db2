import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit
import SyncProtocol
import SyncSSH

/// A folder and a path in it, from the arguments `[FOLDER] [PATH]` as people write them.
func folderAndPath(_ first: String?, _ second: String?, state: StateDirectory) throws -> (Folder, RelativePath?) {
    func inFolder(_ f: Folder, _ p: String) throws -> RelativePath? {
        let abs = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
        if let (owner, rel) = try state.folder(containing: abs), owner.id == f.id { return rel }
        if !p.hasPrefix("/"), (try? state.folder(containing: FileManager.default.currentDirectoryPath))??.0.id != f.id {
            return try RelativePath(p) // relative to the folder root when the working directory is elsewhere
        }
        throw SyncError.invalidPath(p, reason: "not in folder \(f.id)")
    }
    if let first, let second { let f = try state.folder(first); return (f, try inFolder(f, second)) }
    if let first {
        if let f = try? state.folder(first) { return (f, nil) }
        let abs = first.hasPrefix("/") ? first : FileManager.default.currentDirectoryPath + "/" + first
        if let (f, rel) = try state.folder(containing: abs) { return (f, rel) }
        throw SyncError.unknownFolder(first)
    }
    return (try resolveFolder(nil, state: state), nil)
}

/// The folder an optional `[FOLDER]` argument names (its id, name, path or a path inside it), or
/// every folder when it is not given.
func foldersNamed(_ reference: String?, state: StateDirectory) throws -> [Folder] {
    try reference.map { [try folderAndPath($0, nil, state: state).0] } ?? state.folders()
}

func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
