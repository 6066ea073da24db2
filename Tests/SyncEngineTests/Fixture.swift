import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

/// A node with one registered folder in a fresh temporary directory.
final class Fixture {
    let base: String
    let state: StateDirectory
    let root: String
    let context: FolderContext

    init(folderInside: String = "f") throws {
        base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-engine-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base + "/" + folderInside, withIntermediateDirectories: true)
        state = StateDirectory(root: base + "/state")
        root = base + "/" + folderInside
        let folder = try Registry.initFolder(at: root, state: state)
        context = try FolderContext(folder, state: state)
    }

    deinit {
        _ = try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/locked")
        try? FileManager.default.removeItem(atPath: base)
    }

    /// The folder's context once `key` is set to `value` in its settings.
    func context(setting key: String, to value: String) throws -> FolderContext {
        var folder = context.folder
        try folder.config.set(key, value)
        try folder.saveConfig()
        return try FolderContext(try state.folder(folder.id.rawValue), state: state)
    }

    func write(_ path: String, _ text: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    /// Writes `path` with a modification time a minute back: no scan takes it for racily clean.
    func writeSettled(_ path: String) throws {
        try write(path, "content of \(path)\n")
        var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, root + "/" + path, &times, 0) == 0)
    }

    func commit(_ paths: [String]? = nil) throws -> CommitResult? {
        try Committer(context).commit(paths: paths.map { try $0.map { try RelativePath($0) } })
    }

    /// What a commit changed, as `A path` lines, sorted.
    func lines(_ r: CommitResult?) -> [String] { (r?.changes ?? []).map(\.line).sorted() }

    func tree(_ path: String) throws -> (id: ObjectID, mode: HistoryRepository.Mode?)? {
        guard let head = try context.history.head() else { return nil }
        return try context.history.entry(inCommit: head, path: path)
    }

    func content(_ path: String) throws -> String? {
        guard let e = try tree(path) else { return nil }
        return String(decoding: try context.history.blob(e.id), as: UTF8.self)
    }
}
