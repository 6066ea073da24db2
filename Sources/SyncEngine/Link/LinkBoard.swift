import Foundation
import SyncCore

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
    /// The latest sequence the peer is known to be at (its notices, its answers to a pull).
    public var peerAt: Int64?
    /// The name the peer gave itself in the handshake.
    public var peerName: String?
    /// The last sequence of this node told to the peer on this link.
    public var told: Int64 = 0
    public var pulls = 0
    var noticesIn = 0
    var noticesOut = 0
    public var lastError: String?
    /// When the next dial is due (`waiting`).
    var retryAt: Double?
    /// The transfer going on, if any: what this node receives, and what it sends the peer.
    public var transfer: Transfer?
    public var sending: Transfer?

    public struct Transfer: Codable, Sendable, Equatable {
        public enum Direction: String, Codable, Sendable { case receiving, sending }
        public var direction: Direction = .receiving
        public var entriesDone: Int
        public var entriesTotal: Int
        public var bytes: Int64
        /// At most this many bytes in all (nil: not known).
        public var bytesTotal: Int64?
        var startedAt: Double
        var bytesPerSecond: Double

        init(direction: Direction = .receiving, entriesDone: Int, entriesTotal: Int, bytes: Int64, bytesTotal: Int64?,
             startedAt: Double, bytesPerSecond: Double) {
            self.direction = direction; self.entriesDone = entriesDone; self.entriesTotal = entriesTotal
            self.bytes = bytes; self.bytesTotal = bytesTotal; self.startedAt = startedAt; self.bytesPerSecond = bytesPerSecond
        }

        /// A pull's progress since `started`.
        public init(_ p: PullProgress, since started: Date, now: Date = Date()) {
            self.init(entriesDone: p.entriesDone, entriesTotal: p.entriesTotal, bytes: p.bytesReceived, bytesTotal: p.bytesTotal,
                      startedAt: started.timeIntervalSince1970,
                      bytesPerSecond: Double(p.bytesReceived) / max(now.timeIntervalSince(started), 0.001))
        }

        /// `receiving 40/100 entries, 300.0 MiB of 1.2 GiB at 80.0 MiB/s, about 11 s left`.
        public func text(now: Date = Date(), verb: String? = nil) -> String {
            var s = "\(verb ?? direction.rawValue) "
            if entriesTotal > 0 && direction == .receiving { s += "\(entriesDone)/\(entriesTotal) entries, " }
            s += Units.formatBytes(bytes)
            if let total = bytesTotal, total >= bytes, total > 0 { s += " of \(Units.formatBytes(total))" }
            // Read from a link file: a rate that is not a plain number shows as 0, never a trap.
            let rate = bytesPerSecond.isFinite ? Int64(min(max(bytesPerSecond, 0), 9e18)) : 0
            s += " at \(Units.formatBytes(rate))/s"
            if let left = secondsLeft { s += ", about \(Units.formatDuration(left)) left" }
            return s
        }

        /// The time the rest takes at the rate so far (nil: no total or no rate yet).
        public var secondsLeft: Double? {
            guard let total = bytesTotal, total > bytes, bytesPerSecond > 1 else { return nil }
            return Double(total - bytes) / bytesPerSecond
        }
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

    /// The folders a live process of this node dials `peer` for, with its link up.
    public func followed(from peer: NodeID) -> Set<FolderID> {
        Set(links().filter { $0.role == .dial && $0.peer == peer.rawValue && $0.state == .up }.compactMap { try? FolderID($0.folder) })
    }
}
