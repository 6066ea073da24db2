import Foundation
import Logging
import SyncCore
import SyncProtocol

/// `sync pull --follow`: keeps one link to a peer open for every folder followed there, pulling on
/// each notice (LinkLoop); dials again when the link drops, after a wait that doubles up to `retryMax` (with
/// jitter) and starts over once a link stayed up 30 s; returns when asked to stop. Its state is
/// on the link board for `sync status`.
public struct Follower {
    /// A link made by `dial`.
    public struct Dialed {
        public let session: Session
        public let peer: NodeID
        /// The host as the log names it.
        public let name: String
        public let close: () -> Void
        public init(session: Session, peer: NodeID, name: String, close: @escaping () -> Void) {
            self.session = session; self.peer = peer; self.name = name; self.close = close
        }
    }

    /// The peer as the log names it: its address, or the remote when there is one.
    let remote: String
    let folders: [Folder]
    /// Each folder's remote as configured (what sync status matches the link to).
    let remotes: [FolderID: String]
    let state: StateDirectory
    public var retryMax: Double = 60
    public var keepalive: Double = 30
    public var idleTimeout: Double = 600
    public var log = Logger(label: "sync-pull")
    /// Makes the link (SSH in the toolkit).
    public var dial: () throws -> Dialed
    public var stopRequested: @Sendable () -> Bool = { false }
    /// Waits up to the time given, less when a stop is asked for.
    public var sleep: (Double) -> Void = { usleep(UInt32($0 * 1e6)) }
    /// The factor applied to each wait.
    public var jitter: () -> Double = { Double.random(in: 0.5...1.5) }

    /// Follows each folder at its remote (all of them at one peer: one link carries them).
    public init(_ followed: [(remote: String, folder: Folder)], address: String? = nil, state: StateDirectory,
                dial: @escaping () throws -> Dialed) {
        remote = address ?? followed.first?.remote ?? ""
        folders = followed.map(\.folder)
        remotes = Dictionary(followed.map { ($0.folder.id, $0.remote) }, uniquingKeysWith: { a, _ in a })
        self.state = state; self.dial = dial
    }

    public func run() {
        let links = LinkBoard(state)
        // One status per folder while no link is up (the link loop keeps its own while it runs).
        var status = LinkStatus(folder: "", peer: "", role: .dial)
        func show() { for f in folders { var s = status; s.folder = f.id.rawValue; s.remote = remotes[f.id] ?? ""; links.write(s) } }
        defer { for f in folders { var s = status; s.folder = f.id.rawValue; links.remove(s) } }
        var delay = 1.0
        // Since when the peer is away: kept across failed dials, so that `sync status` shows how
        // long it has been away, not how long since the last try.
        var awaySince = Date().timeIntervalSince1970
        while !stopRequested() {
            status.state = .connecting
            status.since = awaySince
            show()
            var upAt: Date?
            do {
                let dialed = try dial()
                defer { dialed.close() }
                let server = FolderServer(state: state, peer: dialed.peer)
                server.pullOnOffer(state: state, peer: dialed.peer, log: log)
                dialed.session.handler = server
                let loop = LinkLoop(session: dialed.session, server: server, state: state, peer: dialed.peer, following: folders)
                loop.log = log
                loop.remoteName = remote
                loop.remotes = remotes
                loop.stopRequested = stopRequested
                loop.keepalive = keepalive
                loop.idleTimeout = idleTimeout
                status.peer = dialed.peer.rawValue
                upAt = Date()
                status.lastError = nil
                try loop.run()
                if !stopRequested() { log.notice("host \(dialed.name): the link closed") }
            } catch let e as RemoteError where e.code == .notFound {
                status.lastError = folders.count == 1
                    ? "folder \(folders[0].id): not found on the peer (or this node is not allowed to see it)"
                    : "none of the folders \(folders.map(\.id.rawValue).joined(separator: ", ")) found on the peer (or this node is not allowed to see them)"
                log.error("\(remote): \(status.lastError!)")
            } catch let e as PullStopped {
                log.info("\(remote): \(e)")
            } catch {
                status.lastError = "\(error)"
                log.warning("\(remote): \(error)")
            }
            if stopRequested() { break }
            if upAt != nil { awaySince = Date().timeIntervalSince1970 }
            if let upAt, Date().timeIntervalSince(upAt) > 30 { delay = 1 }
            let wait = min(delay, retryMax) * jitter()
            status.state = .waiting
            status.since = awaySince
            status.retryAt = Date().timeIntervalSince1970 + wait
            show()
            log.info("\(remote): dialing again in \(String(format: "%.1f", wait)) s")
            sleep(wait)
            status.retryAt = nil
            delay = min(delay * 2, retryMax)
        }
    }
}

extension FolderServer {
    /// Pulls a folder over the link when the peer offers it (its `sync pull` offers after its own
    /// pull); each pull is logged on this node, and its problems go back to the peer.
    public func pullOnOffer(state: StateDirectory, peer: NodeID, log: Logger) {
        onOffer = { folder, session in
            // Another process of this node pulling from this peer will bring the same.
            guard let lock = try? FileLock(path: Puller.lockPath(folder, peer: peer), wait: false) else { return [] }
            defer { _ = lock }
            let context = try FolderContext(folder, state: state)
            let before = try context.index.sequence()
            let outcome: PullOutcome
            do { outcome = try Puller(context: context, remote: RemoteFolder(session: session, folder: folder.id.rawValue), peer: peer).run() }
            catch { log.warning("folder \(folder.id): pull from \(peer.short) on its offer failed: \(error)"); throw error }
            let problems = outcome.problems.map { "folder \(folder.id): \($0)" } + outcome.history.problems.map { "folder \(folder.id): \($0)" }
            for p in problems { log.warning("\(p)") }
            log.info("folder \(folder.id): pulled from \(peer.short) on its offer: \(outcome.changeCount) changes, \(outcome.filesFetched) files fetched, now at \(outcome.sequence) here")
            if outcome.sequence > before { try? NoticeBoard(state).post(folder.id, sequence: outcome.sequence) }
            return problems
        }
    }
}
