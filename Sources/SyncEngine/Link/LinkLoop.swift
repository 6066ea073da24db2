import Foundation
import Logging
import SyncCore
import SyncProtocol

/// A link kept open: serves the peer's requests, tells the peer at once when a folder it follows
/// moves here, and pulls when the peer tells of a folder this side follows.
///
/// The dialing side (`sync pull --follow`) follows every folder it shares with the peer over this
/// one link: it subscribes to each, catches up, and pulls on each notice; a folder the peer does
/// not show is said so and asked for again every `resubscribe` seconds, while the others go on.
/// Both sides tell the other of their own changes: the peer subscribed, or, for a folder the
/// dialer follows, so that a node whose own link cannot reach the dialer still learns of its
/// changes; that side pulls over this link only while no link of its own follows the folder.
///
/// No cycles: a notice names the sequence; a side that holds it already does nothing. A pull that
/// only repeated the peer's own rows is remembered (`peer.<id>.echo`) and the notice sent back
/// says so, so the peer skips to it without pulling.
public final class LinkLoop {
    public let session: Session
    public let server: FolderServer
    let state: StateDirectory
    let peer: NodeID
    /// The folders followed on this link (dialing side), by id.
    public let following: [FolderID: Folder]
    /// Followed folders the peer answered `notFound` for, and when to ask again.
    private var refused: [FolderID: Date] = [:]
    /// Seconds before a folder the peer did not show is asked for again.
    public var resubscribe: Double = 60
    public var log = Logger(label: "sync")
    public var stopRequested: @Sendable () -> Bool = { false }
    /// Seconds between notices sent on an idle link, so that a dead link is found.
    public var keepalive: Double = 30
    /// Seconds without a message from the peer after which the link is given up (its keepalives
    /// come every `keepalive` seconds while it lives); nil keeps a silent link for ever.
    public var idleTimeout: Double? = 600
    /// Status files per folder, for `sync status`.
    var statuses: [FolderID: LinkStatus] = [:]
    let role: LinkStatus.Role
    /// The peer as the log names it (dialing side).
    var remoteName = ""
    /// Each followed folder's remote as configured, for the status.
    var remotes: [FolderID: String] = [:]
    let board: NoticeBoard
    let links: LinkBoard
    private var contexts: [FolderID: FolderContext] = [:]
    /// The last sequence told to the peer, per folder.
    private var told: [FolderID: Int64] = [:]
    private var lastSent = Date()
    /// Pulls to try again: one left rows for later, or another process of this node was pulling
    /// the same folder from the same peer.
    private var retries: [FolderID: (folder: Folder, at: Date, wanted: Int64?)] = [:]
    /// Folders whose big transfer stopped for a notice (`Puller.Yielded`): their next pull on a
    /// notice leaves big files for the one after it.
    private var yielded: Set<FolderID> = []
    /// Counters of this link, for logs and tests.
    public private(set) var pulls = 0, noticesIn = 0, noticesOut = 0
    /// SYNC_DIR/run/trace, when it exists, gets one line per notice told or heard and per pull,
    /// from every link process of the node (a diagnostic: `TIME NODE EVENT FOLDER PEER key=value...`).
    let trace: String?

    public init(session: Session, server: FolderServer, state: StateDirectory, peer: NodeID, following: [Folder]) {
        self.session = session; self.server = server; self.state = state; self.peer = peer
        self.following = Dictionary(following.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        role = following.isEmpty ? .serve : .dial
        board = NoticeBoard(state)
        links = LinkBoard(state)
        let t = state.root + "/run/trace"
        trace = FileManager.default.fileExists(atPath: t) ? t : nil
    }

    /// What this side sends the peer, per folder, and when it last sent some.
    private var sending: [FolderID: (transfer: LinkStatus.Transfer, last: Date, shown: Date)] = [:]

    /// Counts what the server sends, for the status (at most every half second).
    private func served(_ folder: FolderID, _ what: FolderServer.Served) {
        let now = Date()
        var s = sending[folder] ?? (LinkStatus.Transfer(direction: .sending, entriesDone: 0, entriesTotal: 0, bytes: 0, bytesTotal: 0,
                                                        startedAt: now.timeIntervalSince1970, bytesPerSecond: 0), now, .distantPast)
        switch what {
        case .rows(let n, let bytes): s.transfer.entriesTotal += n; s.transfer.bytesTotal = (s.transfer.bytesTotal ?? 0) + bytes
        case .content(let n): s.transfer.bytes += Int64(n)
        }
        s.last = now
        s.transfer.bytesPerSecond = Double(s.transfer.bytes) / max(now.timeIntervalSince1970 - s.transfer.startedAt, 0.001)
        let show = now.timeIntervalSince(s.shown) > 0.5
        if show { s.shown = now }
        sending[folder] = s
        if show, s.transfer.bytes > 0 { update(folder) { $0.sending = s.transfer } }
    }

    /// A sending transfer is over once nothing was sent for two seconds.
    private func endQuietSending() {
        for (folder, s) in sending where Date().timeIntervalSince(s.last) > 2 {
            sending[folder] = nil
            if statuses[folder]?.sending != nil { update(folder) { $0.sending = nil } }
        }
    }

    /// Runs until the peer closes the link or a stop is asked for.
    public func run() throws {
        server.onServed = { [unowned self] in self.served($0, $1) }
        defer { server.onServed = nil }
        let watch = try board.watch()
        defer {
            close(watch)
            for s in statuses.values { links.remove(s) }
        }
        if !following.isEmpty {
            // Every folder is subscribed to before any is caught up: the peer then tells of each
            // while another catches up, and a long catch-up makes way for their news.
            let shown = try following.values.sorted(by: { $0.id.rawValue < $1.id.rawValue }).filter { try subscribe($0) }
            // Not one folder shown: as a link that cannot be made (the follower waits and dials again).
            if shown.isEmpty { throw RemoteError(code: .notFound, message: "not found") }
            for f in shown { try pull(f, reason: "catching up") }
        }
        // Local sequences are read again only when something may have moved them: a post on the
        // notice board, a pull here, a new subscription, or the periodic wake-up (a commit made
        // without sync-notify) — not for every request the peer makes during a long pull.
        var recheck = true
        // A periodic wake-up reads only folders whose index files changed (see `stamp`).
        var periodic = false
        var lastHeard = Date(), heardBytes = session.link.bytesIn
        while !stopRequested() {
            // Anything received counts, answers during a pull of ours too.
            if session.link.bytesIn != heardBytes { heardBytes = session.link.bytesIn; lastHeard = Date() }
            if let idle = idleTimeout, Date().timeIntervalSince(lastHeard) > idle {
                log.notice("\(peer.short): nothing heard for \(Int(idle)) s; closing the link")
                throw ProtocolError.timedOut(Int(idle.rounded()))
            }
            // What the peer may see, read once per turn (a keepalive brings a notice per folder: per
            // notice, it cost a pass over every folder).
            seen = nil
            if recheck { try tell(onlyMoved: periodic); recheck = false; periodic = false }
            while !session.notices.isEmpty {
                try handle(session.notices.removeFirst())
                try tell()
            }
            if stopRequested() { break }
            for (id, at) in refused where at <= Date() {
                refused[id] = nil
                if let f = following[id], try subscribe(f) {
                    try pull(f, reason: "catching up")
                    recheck = true
                }
            }
            for (id, r) in retries where r.at <= Date() {
                retries[id] = nil
                yielded.remove(id)
                // Skipped when another process brought what was wanted meanwhile.
                if let wanted = r.wanted, try storedSequence(r.folder) >= wanted { continue }
                try pull(r.folder, reason: "again", wanted: r.wanted)
                recheck = true
            }
            let nextRetry = (retries.values.map(\.at) + refused.values).map(\.timeIntervalSinceNow).min() ?? keepalive
            let wait = try session.link.wait(timeout: max(0, min(keepalive, 5, nextRetry)), others: [watch])
            if !wait.others.isEmpty {
                // Told before the peer's next request is served: that may be the next range of a
                // big file, which the notice should overtake.
                NoticeBoard.drain(watch)
                try tell()
                recheck = false
            }
            if wait.link {
                let subscribed = server.subscriptions.count
                guard try session.handleNext() else { return }
                if server.subscriptions.count != subscribed {
                    recheck = true
                    // A new follower of ours shows in sync status at once.
                    for (id, sub) in server.subscriptions where statuses[id] == nil {
                        update(id) { $0.told = sub.since }
                    }
                }
            } else if wait.others.isEmpty {
                recheck = true
                periodic = true
            }
            if Date().timeIntervalSince(lastSent) >= keepalive { try tell(all: true) }
            if !sending.isEmpty { endQuietSending() }
        }
        try? session.send(.bye)
    }

    /// Subscribes to a followed folder's notices (its caller then catches up on it); false when the
    /// peer does not show it (asked again later).
    private func subscribe(_ f: Folder) throws -> Bool {
        let id = session.newRequestID()
        try session.send(.subscribe(id: id, folder: f.id.rawValue, since: try storedSequence(f)))
        switch try session.next(for: id) {
        case .end: break
        case .error(_, .notFound, _):
            refused[f.id] = Date().addingTimeInterval(resubscribe)
            let why = "folder \(f.id): not found on the peer (or this node is not allowed to see it)"
            log.error("\(remoteName): \(why)")
            update(f.id) { $0.state = .waiting; $0.lastError = why }
            return false
        case .error(_, let code, let message): throw RemoteError(code: code, message: message)
        default: throw ProtocolError.unexpected("in an answer to subscribe")
        }
        update(f.id) { $0.state = .up; $0.since = Date().timeIntervalSince1970; $0.lastError = nil }
        log.info("folder \(f.id): following \(peer.short) (\(remoteName))")
        subscribed.insert(f.id)
        return true
    }

    /// Followed folders the peer accepted a subscription for.
    private var subscribed: Set<FolderID> = []

    /// The folders the peer hears of on this link.
    private var toldFolders: [Folder] {
        var list = server.subscriptions.values.map(\.folder)
        for (id, f) in following where subscribed.contains(id) && server.subscriptions[id] == nil { list.append(f) }
        return list
    }

    /// Tells the peer of every folder it hears of that moved since it was last told (or of all, on an idle link).
    /// `onlyMoved` (a periodic wake-up) skips a folder whose index files are as they were when it
    /// was last read: an idle link with many folders reads nothing but their stat data. A post on
    /// the notice board reads every folder, whatever the stat data say.
    private func tell(all: Bool = false, onlyMoved: Bool = false) throws {
        let visible = self.visible
        for f in toldFolders {
            let stamp = Self.stamp(f)
            if onlyMoved, !all, told[f.id] != nil, stamps[f.id] == stamp { continue }
            stamps[f.id] = stamp
            // Only of a folder the peer may see: to any other, this node shows nothing, not even that it exists.
            guard visible[f.id.rawValue] != nil else { continue }
            let index = try context(f).index
            let sequence = try index.servedSequence()
            let known = told[f.id] ?? server.subscriptions[f.id]?.since ?? -1
            guard sequence > known || all else { continue }
            var echo = sequence
            if let range = try index.echoRange(peer.rawValue), range.to == sequence { echo = range.from }
            try session.send(.notice(folder: f.id.rawValue, sequence: sequence, echoFrom: echo))
            told[f.id] = sequence
            lastSent = Date()
            if sequence > known {
                noticesOut += 1
                traceLine("tell", f.id, "sequence=\(sequence) echo-from=\(echo)")
                log.debug("folder \(f.id): told \(peer.short) of sequence \(sequence)\(echo < sequence ? " (its own from \(echo))" : "")")
            }
            update(f.id) { $0.told = sequence; $0.noticesOut = self.noticesOut }
        }
    }

    /// The folders the peer may see, as read this turn of the loop (`visible`).
    private var seen: [String: Folder]?
    private var visible: [String: Folder] {
        if let seen { return seen }
        let fresh = server.visibleFolders()
        seen = fresh
        return fresh
    }

    /// The folders a dialing link of this node follows from the peer, read from the link board at
    /// most every two seconds (it is a file per link and folder).
    private var ownFollowedRead: (at: Date, folders: Set<FolderID>)?
    private var ownFollowed: Set<FolderID> {
        if let r = ownFollowedRead, Date().timeIntervalSince(r.at) < 2 { return r.folders }
        let folders = links.followed(from: peer)
        ownFollowedRead = (Date(), folders)
        return folders
    }

    /// The stat data of each folder's index files when they were last read for a notice.
    private var stamps: [FolderID: [Int64]] = [:]

    /// Size, modification time and inode of a folder's index and its write-ahead log: any commit
    /// to the index changes one of them.
    static func stamp(_ f: Folder) -> [Int64] {
        [f.indexPath, f.indexPath + "-wal"].flatMap { path -> [Int64] in
            var st = stat()
            guard stat(path, &st) == 0 else { return [-1] }
            return [Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec), Int64(st.st_ino)]
        }
    }

    /// Acts on the peer's notice.
    private func handle(_ notice: Notice) throws {
        let folder: Folder
        let followed: Bool
        if let id = try? FolderID(notice.folder), let f = following[id], subscribed.contains(id) {
            folder = f
            followed = true
        } else {
            // A folder this side does not follow on this link: pull it here only if the peer may
            // send it and no link of this node's own follows it.
            guard let f = visible[notice.folder] else { return }
            folder = f
            followed = false
        }
        let index = try context(folder).index
        let held = try storedSequence(folder)
        if !followed {
            // At rest (nothing new to show or to fetch), as a keepalive's notice mostly is: no need
            // to read this node's link board.
            if notice.sequence <= (statuses[folder.id]?.peerAt ?? 0), notice.sequence <= held { return }
            guard !ownFollowed.contains(folder.id) else { return }
        }
        if notice.sequence > (statuses[folder.id]?.peerAt ?? 0) { update(folder.id) { $0.peerAt = notice.sequence } }
        // A notice at or below what is held is old news: it waited while a pull brought more.
        guard notice.sequence > held else { return }
        noticesIn += 1
        update(folder.id) { $0.noticesIn = self.noticesIn }
        traceLine("notice", folder.id, "sequence=\(notice.sequence) echo-from=\(notice.echoFrom) held=\(held)")
        if notice.echoFrom <= held {
            // Everything after what is held came from this node: nothing to fetch.
            try index.setMeta(MetaKey.peerSequence(peer.rawValue), String(notice.sequence))
            update(folder.id) { $0.peerSequence = notice.sequence }
            log.debug("folder \(folder.id): \(peer.short) is at \(notice.sequence), all of it ours")
            return
        }
        try pull(folder, reason: "told of sequence \(notice.sequence)", wanted: notice.sequence, deferLarge: yielded.contains(folder.id))
    }

    /// Whether a notice the peer sent during a pull of `current` brings something this side lacks:
    /// a big transfer then makes way for it.
    private func isNews(_ n: Notice, pulling current: FolderID, to target: Int64) -> Bool {
        guard let id = try? FolderID(n.folder) else { return false }
        if id == current { return n.sequence > target && n.echoFrom > target }
        guard let f = following[id] ?? visible[n.folder], let held = try? storedSequence(f) else { return false }
        return n.sequence > held && n.echoFrom > held
    }

    private func pull(_ folder: Folder, reason: String, wanted: Int64? = nil, deferLarge: Bool = false) throws {
        // A paused folder takes nothing; the peer's next notice (at the latest the keepalive's)
        // brings it once the folder is resumed.
        if (try? Folder(id: folder.id, stateDirectory: state))?.config.paused ?? false {
            log.debug("folder \(folder.id): paused; not pulling from \(peer.short) (\(reason))")
            return
        }
        let context = try context(folder)
        // What the peer may see (`visible`) is read again after a pull, which takes its time.
        defer { seen = nil }
        // One pull from a peer into a folder at a time, across this node's processes; never wait
        // for it while holding a link (two nodes' links could wait on each other): try again soon.
        let lock: FileLock
        do { lock = try FileLock(path: Puller.lockPath(folder, peer: peer), wait: false) } catch SyncError.locked {
            retries[folder.id] = (folder, Date().addingTimeInterval(0.3), wanted)
            return
        }
        defer { _ = lock }
        let before = try context.index.sequence()
        let puller = Puller(context: context, remote: RemoteFolder(session: session, folder: folder.id.rawValue), peer: peer)
        let started = Date()
        var lastShown = Date.distantPast
        puller.progress = { [self] p in
            guard Date().timeIntervalSince(lastShown) > 0.5 else { return }
            lastShown = Date()
            update(folder.id) { $0.transfer = .init(p, since: started) }
        }
        puller.cancelled = stopRequested
        puller.deferLarge = deferLarge
        puller.shouldYield = { [unowned self, unowned puller] in
            self.session.notices.contains { self.isNews($0, pulling: folder.id, to: puller.outcome.peerSequence) }
        }
        // A pull of many rows makes way for another folder's news at its batches' ends.
        puller.yieldBetweenBatches = { [unowned self] in
            self.session.notices.contains { $0.folder != folder.id.rawValue && self.isNews($0, pulling: folder.id, to: 0) }
        }
        let since = try storedSequence(folder)
        let outcome: PullOutcome
        do { outcome = try puller.run() } catch is Puller.Yielded {
            // What was applied is recorded; the notices go first, then this pull again.
            log.debug("folder \(folder.id): a pull from \(peer.short) makes way for a notice (\(reason))")
            traceLine("yield", folder.id, "reason=\(reason.replacingOccurrences(of: " ", with: "-"))")
            update(folder.id) { $0.transfer = nil }
            yielded.insert(folder.id)
            retries[folder.id] = (folder, Date(), nil)
            return
        } catch let e as RemoteError {
            // The peer refused this folder (access taken back, a request it would not answer): the
            // link goes on for the others; a followed folder is asked for again later.
            log.warning("folder \(folder.id): pull from \(peer.short) refused: \(e.message)")
            if following[folder.id] != nil {
                subscribed.remove(folder.id)
                refused[folder.id] = Date().addingTimeInterval(resubscribe)
                update(folder.id) { $0.state = .waiting; $0.transfer = nil; $0.lastError = "folder \(folder.id): \(e.message)" }
            }
            return
        }
        pulls += 1
        let after = outcome.sequence
        if outcome.rowsRecorded > 0, outcome.foreignRows == 0, after - before == Int64(outcome.rowsRecorded) {
            // Only the peer's own rows: remember it, so the notice of this sequence says so.
            var from = before
            if let r = try context.index.echoRange(peer.rawValue), r.to == before { from = r.from }
            try context.index.setMeta(MetaKey.peerEcho(peer.rawValue), "\(from) \(after)")
        }
        let held = try storedSequence(folder)
        traceLine("pull", folder.id, "since=\(since) held=\(held) changes=\(outcome.changeCount) rows=\(outcome.rowsRecorded) reason=\(reason.replacingOccurrences(of: " ", with: "-"))")
        update(folder.id) {
            $0.transfer = nil; $0.pulls = self.pulls; $0.peerSequence = held
            $0.peerAt = max($0.peerAt ?? 0, outcome.peerSequence)
        }
        for p in outcome.problems { log.warning("folder \(folder.id): \(p)") }
        for p in outcome.history.problems { log.warning("folder \(folder.id): \(p)") }
        if outcome.held || puller.deferredLarge {
            // Big files left for later by a pull that made way for a notice come next, at once.
            retries[folder.id] = (folder, Date().addingTimeInterval(puller.deferredLarge && !outcome.held ? 0 : 2), nil)
        }
        log.info("folder \(folder.id): pulled from \(peer.short) (\(reason)): \(outcome.changeCount) changes, \(outcome.filesFetched) files fetched, now at \(held) of the peer's, \(after) here")
        if after > before { try board.post(folder.id, sequence: after) }
    }

    private func traceLine(_ event: String, _ folder: FolderID, _ details: String) {
        guard let trace else { return }
        let me = session.identity.id.short
        POSIX.append(line: "\(Date().timeIntervalSince1970) \(me) \(event) \(folder) \(peer.short) \(details)", to: trace, create: false)
    }

    private func storedSequence(_ folder: Folder) throws -> Int64 {
        try context(folder).index.peerSequence(peer.rawValue) ?? 0
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
            s.remote = remotes[folder] ?? ""
            s.peerName = session.peerName
            s.state = .up
            return s
        }()
        change(&s)
        // Unchanged (a keepalive's notice of a folder at rest): no file written.
        if statuses[folder] == s { return }
        statuses[folder] = s
        links.write(s)
    }
}
