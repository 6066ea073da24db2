import Foundation
import SyncCore

/// This node's word that a folder moved: `SYNC_DIR/run/notices/<folder-id>` holds the folder's
/// sequence. `sync-notify` and every pull that changed a folder post there; every process that
/// holds a link to a peer watches the directory with inotify and tells its peer at once.
public struct NoticeBoard: Sendable {
    public let directory: String

    public init(_ state: StateDirectory) { directory = state.root + "/run/notices" }

    /// Posts `sequence` for `folder` (a rename, so a watcher never reads half a number).
    public func post(_ folder: FolderID, sequence: Int64) throws {
        try FileSystem.makeDirectories(directory, mode: 0o700)
        try FileSystem.writeAtomically(Array("\(sequence)\n".utf8), to: directory + "/" + folder.rawValue, mode: 0o600, durable: false)
    }

    /// The last sequence posted for `folder`, if any.
    func posted(_ folder: FolderID) -> Int64? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + folder.rawValue) else { return nil }
        return Int64(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// An inotify descriptor that becomes readable when anything is posted; read it with `drain`.
    public func watch() throws -> Int32 {
        try FileSystem.makeDirectories(directory, mode: 0o700)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SyncError.io(path: directory, operation: "inotify_init", errno: errno) }
        guard inotify_add_watch(fd, directory, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE)) >= 0 else {
            let e = errno
            close(fd)
            throw SyncError.io(path: directory, operation: "watch", errno: e)
        }
        return fd
    }

    /// Reads every pending event of a `watch` descriptor.
    static func drain(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 4096)
        while buf.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
