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
    public func posted(_ folder: FolderID) -> Int64? {
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
    public static func drain(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 4096)
        while buf.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

/// What one link process is doing, for `sync status`: `SYNC_DIR/run/links/<folder>.<peer>.<role>.<pid>`
/// (JSON), rewritten as the link changes state and while a transfer goes on, removed at exit.
public struct LinkStatus: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case dial, serve }
    public var folder: String
    public var peer: String
    public var role: Role
    public var pid: Int32
    /// The remote as configured (dialing side), or empty.
    public var remote: String = ""
    public enum State: String, Codable, Sendable {
        case connecting, up
        /// To dial again (at `retryAt`).
        case waiting
        case closed
    }
    public var state: State = .connecting
    /// Since when (seconds since the epoch) the link is in this state.
    public var since: Double = Date().timeIntervalSince1970
    /// The peer's sequence this node holds (stored after each pull).
    public var peerSequence: Int64 = 0
    /// The last sequence of this node told to the peer on this link.
    public var told: Int64 = 0
    public var pulls = 0
    public var noticesIn = 0
    public var noticesOut = 0
    public var lastError: String?
    /// When the next dial is due (`waiting`).
    public var retryAt: Double?
    /// The transfer going on, if any.
    public var transfer: Transfer?

    public struct Transfer: Codable, Sendable, Equatable {
        public var entriesDone: Int
        public var entriesTotal: Int
        public var bytes: Int64
        public var startedAt: Double
        public var bytesPerSecond: Double
    }

    public init(folder: String, peer: String, role: Role) {
        self.folder = folder; self.peer = peer; self.role = role; pid = getpid()
    }
}

/// The directory of `LinkStatus` files.
public struct LinkBoard: Sendable {
    public let directory: String

    public init(_ state: StateDirectory) { directory = state.root + "/run/links" }

    func file(_ s: LinkStatus) -> String { directory + "/\(s.folder).\(s.role.rawValue).\(s.pid)" }

    public func write(_ s: LinkStatus) {
        guard (try? FileSystem.makeDirectories(directory, mode: 0o700)) != nil,
              let data = try? JSONEncoder().encode(s) else { return }
        try? FileSystem.writeAtomically(Array(data), to: file(s), durable: false)
    }

    public func remove(_ s: LinkStatus) { unlink(file(s)) }

    /// Every link of a live process (files of dead ones are removed on the way).
    public func links() -> [LinkStatus] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var out: [LinkStatus] = []
        for n in names.sorted() where !n.hasPrefix(".") {
            guard let data = FileManager.default.contents(atPath: directory + "/" + n),
                  let s = try? JSONDecoder().decode(LinkStatus.self, from: data) else { continue }
            if FileSystem.processGone(s.pid) { unlink(directory + "/" + n); continue }
            out.append(s)
        }
        return out
    }

    /// Whether a live process of this node dials `peer` for `folder` and has its link up.
    public func following(_ folder: FolderID, peer: NodeID) -> Bool {
        links().contains { $0.role == .dial && $0.folder == folder.rawValue && $0.peer == peer.rawValue && $0.state == .up }
    }
}

/// A bound on the links one peer holds open to this node at once: each serving process takes one
/// of `limit` slot locks (`SYNC_DIR/run/slots/<peer>-<n>.lock`), released when it ends, however it ends.
public enum LinkSlots {
    /// A free slot for `peer`, held while the lock lives; nil when all `limit` are taken.
    public static func take(_ state: StateDirectory, peer: NodeID, limit: Int) throws -> FileLock? {
        let directory = state.root + "/run/slots"
        try FileSystem.makeDirectories(directory, mode: 0o700)
        for i in 0..<max(limit, 1) {
            if let lock = try? FileLock(path: "\(directory)/\(peer)-\(i).lock", wait: false) { return lock }
        }
        return nil
    }
}
