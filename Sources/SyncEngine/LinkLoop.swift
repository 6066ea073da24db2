import Foundation
import Logging
import SyncCore
import SyncProtocol

/// A link kept open: serves the peer's requests, tells the peer at once when a folder it follows
/// moves here, and pulls when the peer tells of a folder this side follows.
///
/// The dialing side (`sync pull --follow`) follows one folder: it subscribes, catches up, and pulls
/// on each notice. Both sides tell the other of their own changes: the peer subscribed, or, for the
/// folder the dialer follows, so that a node whose own link cannot reach the dialer still learns of
/// its changes; that side pulls over this link only while no link of its own follows the folder.
///
/// No cycles: a notice names the sequence; a side that holds it already does nothing. A pull that
/// only repeated the peer's own rows is remembered (`peer.<id>.echo`) and the notice sent back
/// says so, so the peer skips to it without pulling.
public final class LinkLoop {
    public let session: Session
    public let server: FolderServer
    let state: StateDirectory
    let peer: NodeID
    /// The folder followed on this link (dialing side), if any.
    public let following: Folder?
    public var log = Logger(label: "sync")
    public var stopRequested: @Sendable () -> Bool = { false }
    /// Seconds between notices sent on an idle link, so that a dead link is found.
    public var keepalive: Double = 30
    /// Status files per folder, for `sync status`.
    var statuses: [FolderID: LinkStatus] = [:]
    let role: LinkStatus.Role
    public var remoteName = ""
    let board: NoticeBoard
    let links: LinkBoard
    private var contexts: [FolderID: FolderContext] = [:]
    /// The last sequence told to the peer, per folder.
    private var told: [FolderID: Int64] = [:]
    private var lastSent = Date()
    /// Counters of this link, for logs and tests.
    public private(set) var pulls = 0, noticesIn = 0, noticesOut = 0

    public init(session: Session, server: FolderServer, state: StateDirectory, peer: NodeID, following: Folder?) {
        self.session = session; self.server = server; self.state = state; self.peer = peer
        self.following = following
        role = following == nil ? .serve : .dial
        board = NoticeBoard(state)
        links = LinkBoard(state)
    }

    /// Runs until the peer closes the link or a stop is asked for.
    public func run() throws {
        let watch = try board.watch()
        defer {
            close(watch)
            for s in statuses.values { links.remove(s) }
        }
        if let f = following {
            let id = session.newRequestID()
            try session.send(.subscribe(id: id, folder: f.id.rawValue, since: try storedSequence(f)))
            switch try session.next(for: id) {
            case .end: break
            case .error(_, let code, let message): throw RemoteError(code: code, message: message)
            default: throw ProtocolError.unexpected("in an answer to subscribe")
            }
            update(f.id) { $0.state = "up"; $0.since = Date().timeIntervalSince1970 }
            log.info("folder \(f.id): following \(peer.short) (\(remoteName))")
            try pull(f, reason: "catching up")
        }
        while !stopRequested() {
            try tell()
            while !session.notices.isEmpty {
                try handle(session.notices.removeFirst())
                try tell()
            }
            if stopRequested() { break }
            let wait = try session.link.wait(timeout: min(keepalive, 5), others: [watch])
            if !wait.others.isEmpty { NoticeBoard.drain(watch) }
            if wait.link {
                guard try session.handleNext() else { return }
            }
            if Date().timeIntervalSince(lastSent) >= keepalive { try tell(all: true) }
        }
        try? session.send(.bye)
    }

    /// The folders the peer hears of on this link.
    private var toldFolders: [Folder] {
        var list = server.subscriptions.values.map(\.folder)
        if let f = following, server.subscriptions[f.id] == nil { list.append(f) }
        return list
    }

    /// Tells the peer of every folder it hears of that moved since it was last told (or of all, on an idle link).
    private func tell(all: Bool = false) throws {
        for f in toldFolders {
            guard server.authorized(f.id.rawValue) != nil || f.id == following?.id else { continue }
            let index = try context(f).index
            let sequence = try index.sequence()
            let known = told[f.id] ?? server.subscriptions[f.id]?.since ?? -1
            guard sequence > known || all else { continue }
            var echo = sequence
            if let range = try index.meta("peer.\(peer).echo")?.split(separator: " ").compactMap({ Int64($0) }),
               range.count == 2, range[1] == sequence { echo = range[0] }
            try session.send(.notice(folder: f.id.rawValue, sequence: sequence, echoFrom: echo))
            told[f.id] = sequence
            lastSent = Date()
            if sequence > known {
                noticesOut += 1
                log.debug("folder \(f.id): told \(peer.short) of sequence \(sequence)\(echo < sequence ? " (its own from \(echo))" : "")")
            }
            update(f.id) { $0.told = sequence; $0.noticesOut = self.noticesOut }
        }
    }

    /// Acts on the peer's notice.
    private func handle(_ notice: Notice) throws {
        let folder: Folder
        if let f = following, f.id.rawValue == notice.folder {
            folder = f
        } else {
            // A folder this side does not follow on this link: pull it here only if the peer may
            // send it and no link of this node's own follows it.
            guard let f = server.authorized(notice.folder), !links.following(f.id, peer: peer) else { return }
            folder = f
        }
        let index = try context(folder).index
        let held = try storedSequence(folder)
        guard notice.sequence != held else { return }
        noticesIn += 1
        update(folder.id) { $0.noticesIn = self.noticesIn }
        if notice.sequence > held && notice.echoFrom <= held {
            // Everything after what is held came from this node: nothing to fetch.
            try index.setMeta("peer.\(peer).sequence", String(notice.sequence))
            update(folder.id) { $0.peerSequence = notice.sequence }
            log.debug("folder \(folder.id): \(peer.short) is at \(notice.sequence), all of it ours")
            return
        }
        // A sequence below the one held means the peer's index was made anew: the pull finds out.
        try pull(folder, reason: "told of sequence \(notice.sequence)")
    }

    private func pull(_ folder: Folder, reason: String) throws {
        let context = try context(folder)
        let before = try context.index.sequence()
        let puller = Puller(context: context, remote: RemoteFolder(session: session, folder: folder.id.rawValue), peer: peer)
        let started = Date()
        var lastShown = Date.distantPast
        puller.progress = { [self] p in
            guard Date().timeIntervalSince(lastShown) > 0.5 else { return }
            lastShown = Date()
            let elapsed = max(Date().timeIntervalSince(started), 0.001)
            update(folder.id) {
                $0.transfer = .init(entriesDone: p.entriesDone, entriesTotal: p.entriesTotal, bytes: p.bytesReceived,
                                    startedAt: started.timeIntervalSince1970, bytesPerSecond: Double(p.bytesReceived) / elapsed)
            }
        }
        puller.cancelled = stopRequested
        let outcome = try puller.run()
        pulls += 1
        let after = outcome.sequence
        if outcome.rowsRecorded > 0, outcome.foreignRows == 0, after - before == Int64(outcome.rowsRecorded) {
            // Only the peer's own rows: remember it, so the notice of this sequence says so.
            var from = before
            if let r = try context.index.meta("peer.\(peer).echo")?.split(separator: " ").compactMap({ Int64($0) }),
               r.count == 2, r[1] == before { from = r[0] }
            try context.index.setMeta("peer.\(peer).echo", "\(from) \(after)")
        }
        let held = try storedSequence(folder)
        update(folder.id) { $0.transfer = nil; $0.pulls = self.pulls; $0.peerSequence = held }
        for p in outcome.problems { log.warning("folder \(folder.id): \(p)") }
        log.info("folder \(folder.id): pulled from \(peer.short) (\(reason)): \(outcome.changes.count) changes, \(outcome.filesFetched) files fetched, now at \(held) of the peer's, \(after) here")
        if after > before { try board.post(folder.id, sequence: after) }
    }

    private func storedSequence(_ folder: Folder) throws -> Int64 {
        Int64(try context(folder).index.meta("peer.\(peer).sequence") ?? "0") ?? 0
    }

    private func context(_ folder: Folder) throws -> FolderContext {
        if let c = contexts[folder.id] { return c }
        let c = try FolderContext(folder, state: state)
        contexts[folder.id] = c
        return c
    }

    private func update(_ folder: FolderID, _ change: (inout LinkStatus) -> Void) {
        var s = statuses[folder] ?? {
            var s = LinkStatus(folder: folder.rawValue, peer: peer.rawValue, role: role)
            s.remote = remoteName
            s.state = "up"
            return s
        }()
        change(&s)
        statuses[folder] = s
        links.write(s)
    }
}
