import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

/// SIGTERM and SIGINT ask a long-running command to stop: they set a flag (without SA_RESTART,
/// so a wait in poll(2) returns at once) that its loops check between steps.
enum StopSignal {
    nonisolated(unsafe) static var raised: sig_atomic_t = 0

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in StopSignal.raised = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
        // A parent may have started this process with signals blocked (Foundation's Process does).
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGCHLD)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    static var requested: Bool { raised != 0 }

    /// Sleeps up to `seconds`, less when a stop is asked for.
    static func sleep(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while !requested, end.timeIntervalSinceNow > 0 {
            _ = poll(nil, 0, Int32(min(end.timeIntervalSinceNow, 0.5) * 1000) + 1)
        }
    }
}

/// In a child of sync-daemon (SYNC_DAEMON_PID set): raises SIGTERM in this process when the
/// daemon is gone, so that nothing it started outlives it (a killed daemon restarted would
/// otherwise find its old watchers and links still running).
func stopWithDaemon() {
    guard let text = ProcessInfo.processInfo.environment["SYNC_DAEMON_PID"], let daemon = pid_t(text) else { return }
    let thread = Thread {
        while getppid() == daemon { usleep(300_000) }
        kill(getpid(), SIGTERM)
    }
    thread.start()
}

/// Log lines on standard error (`TIME LEVEL LABEL : MESSAGE`, swift-log's stream format), at the
/// level SYNC_LOG_LEVEL names (trace, debug, info, notice, warning, error; default `defaultLevel`);
/// with `file`, also appended there from info on (see `NodeLogHandler`).
func makeLogger(_ label: String, defaultLevel: Logger.Level = .info, file: String? = nil) -> Logger {
    let level = ProcessInfo.processInfo.environment["SYNC_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
    LoggingSystem.bootstrap { NodeLogHandler(label: $0, file: file, fileLevel: min(level, .info)) }
    var log = Logger(label: label)
    log.logLevel = level
    return log
}

/// Pulls a folder over the link when the peer offers it (sync pull's offer after its own pull);
/// each pull is logged on this node.
func pullOnOffer(_ server: FolderServer, state: StateDirectory, peer: NodeID, log: Logger) {
    server.onOffer = { folder, session in
        // Another process of this node pulling from this peer will bring the same.
        guard let lock = try? FileLock(path: Puller.lockPath(folder, peer: peer), wait: false) else { return [] }
        defer { _ = lock }
        let context = try FolderContext(folder, state: state)
        let before = try context.index.sequence()
        let outcome: PullOutcome
        do { outcome = try Puller(context: context, remote: RemoteFolder(session: session, folder: folder.id.rawValue), peer: peer).run() }
        catch { log.warning("folder \(folder.id): pull from \(peer.short) on its offer failed: \(error)"); throw error }
        let problems = outcome.problems.map { "folder \(folder.id): \($0)" }
        for p in problems { log.warning("\(p)") }
        log.info("folder \(folder.id): pulled from \(peer.short) on its offer: \(outcome.changes.count) changes, \(outcome.filesFetched) files fetched, now at \(outcome.sequence) here")
        if outcome.sequence > before { try? NoticeBoard(state).post(folder.id, sequence: outcome.sequence) }
        return problems
    }
}

/// `sync pull --follow`: keeps a link to the peer open, pulling on each notice; dials again with
/// backoff and jitter when the link drops; returns on SIGTERM or SIGINT.
func follow(_ remote: String, spec: RemoteSpec, folder: Folder, state: StateDirectory, retryMax: Double) {
    StopSignal.install()
    stopWithDaemon()
    var log = makeLogger("sync-pull")
    log[metadataKey: "folder"] = "\(folder.id)"
    let links = LinkBoard(state)
    var status = LinkStatus(folder: folder.id.rawValue, peer: "", role: .dial)
    status.remote = remote
    defer { links.remove(status) }
    var delay = 1.0
    while !StopSignal.requested {
        status.state = .connecting
        status.since = Date().timeIntervalSince1970
        links.write(status)
        var upAt: Date?
        do {
            var dialer = Dialer(state: state)
            dialer.warn = { log.notice("\($0)") }
            let dialed = try dialer.dial(spec)
            defer { dialed.connection.close() }
            let server = FolderServer(state: state, peer: dialed.peer)
            pullOnOffer(server, state: state, peer: dialed.peer, log: log)
            dialed.session.handler = server
            let loop = LinkLoop(session: dialed.session, server: server, state: state, peer: dialed.peer, following: folder)
            loop.log = log
            loop.remoteName = remote
            loop.stopRequested = { StopSignal.requested }
            let settings = try LinkSettings.fromEnvironment()
            loop.keepalive = settings.keepalive
            loop.idleTimeout = settings.idleTimeout
            status.peer = dialed.peer.rawValue
            upAt = Date()
            status.lastError = nil
            try loop.run()
            if !StopSignal.requested { log.notice("host \(dialed.name): the link closed") }
        } catch let e as RemoteError where e.code == .notFound {
            status.lastError = "folder \(folder.id): not found on the peer (or this node is not allowed to see it)"
            log.error("\(remote): \(status.lastError!)")
        } catch {
            status.lastError = "\(error)"
            log.warning("\(remote): \(error)")
        }
        if StopSignal.requested { break }
        if let upAt, Date().timeIntervalSince(upAt) > 30 { delay = 1 }
        let wait = min(delay, retryMax) * Double.random(in: 0.5...1.5)
        status.state = .waiting
        status.since = Date().timeIntervalSince1970
        status.retryAt = status.since + wait
        links.write(status)
        log.info("\(remote): dialing again in \(String(format: "%.1f", wait)) s")
        StopSignal.sleep(wait)
        status.retryAt = nil
        delay = min(delay * 2, retryMax)
    }
}

public struct NotifyCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-notify",
        abstract: "Tell peers that a folder moved, from sync-commit's lines.",
        discussion: """
            Reads `FOLDER-ID SEQUENCE COMMIT` lines (what sync-commit prints) and posts each new sequence \
            in SYNC_DIR/run/notices, where every open link of this node sees it at once (inotify) and \
            tells its peer: the links of sync pull --follow, and those sync-serve holds for peers that \
            follow this folder. A notice carries the folder id and the sequence only, and a peer that \
            holds that sequence already does nothing. For each peer of the folder (sync peer) that no \
            process of this node follows, it runs sync pull REMOTE in the background, which pulls from \
            the peer and then offers it this node's changes (--no-dial leaves them alone). Lines are \
            copied to standard output, so it can sit in the middle of a pipeline.
            """)
    public static let manual = Manual(
        output: "The lines read, unchanged. Problems on standard error.",
        exitStatus: "0 when its input ended, 1 when the folder is unknown, 2 on a usage error.",
        files: stateFiles + " Notices: SYNC_DIR/run/notices/FOLDER-ID. Links: SYNC_DIR/run/links/.",
        examples: [("sync-watch ~/Documents | sync-commit ~/Documents | sync-notify ~/Documents", "the pipeline sync up runs for a folder")],
        seeAlso: ["sync-commit", "sync-daemon", "sync-pull", "sync-peer"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    @Flag(help: "Do not run sync pull for peers that no link follows.")
    var noDial = false

    public init() {}

    public func run() throws {
        try reporting("sync-notify") {
            signal(SIGPIPE, SIG_IGN)
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            let board = NoticeBoard(state)
            var dialing: [String: pid_t] = [:]
            var pending = ""
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                guard let n = try? POSIX.read(0, into: &chunk, path: "standard input"), n > 0 else { break }
                pending += String(decoding: chunk[0..<n], as: UTF8.self)
                while let nl = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<nl])
                    pending.removeSubrange(...nl)
                    writeAll(line + "\n")
                    let parts = line.split(separator: " ")
                    guard parts.count >= 2, parts[0] == f.id.rawValue, let sequence = Int64(parts[1]) else {
                        if !line.isEmpty { warn("sync-notify: folder \(f.id): ignoring a line that is not FOLDER-ID SEQUENCE COMMIT: \(PathQuoting.quote(line))") }
                        continue
                    }
                    do { try board.post(f.id, sequence: sequence) } catch let e as SyncError { warn("sync-notify: \(e)") }
                    if !noDial { dialUnfollowed(f, state, &dialing) }
                }
            }
        }
    }

    /// Runs `sync-pull REMOTE` for each peer of the folder that no live process of this node dials.
    private func dialUnfollowed(_ folder: Folder, _ state: StateDirectory, _ running: inout [String: pid_t]) {
        for (remote, pid) in running where waitpid(pid, nil, WNOHANG) != 0 { running[remote] = nil }
        let current = (try? state.folder(folder.id.rawValue)) ?? folder
        let links = LinkBoard(state).links()
        for remote in current.config.values("peer") where running[remote] == nil {
            guard !links.contains(where: { $0.role == .dial && $0.folder == folder.id.rawValue && $0.remote == remote }) else { continue }
            if let pid = try? spawn(siblingExecutable("sync-pull"), ["sync-pull", remote], stdout: "/dev/null") {
                running[remote] = pid
            }
        }
    }
}

/// Starts a program with standard input from /dev/null (unless `stdin` is given) and the given
/// standard output, in its own process group.
func spawn(_ path: String, _ argv: [String], stdin: Int32? = nil, stdout: String? = nil, stdoutFD: Int32? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let stdoutFD { posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1) } else if let stdout {
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY, 0)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attributes, 0)
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var pid: pid_t = 0
    var cargs = argv.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    let rc = posix_spawn(&pid, path, &actions, &attributes, &cargs, environ)
    guard rc == 0 else { throw SyncError.io(path: path, operation: "run", errno: rc) }
    return pid
}

public struct PeerCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-peer",
        abstract: "Add, list and remove the peers a folder syncs with.",
        discussion: """
            A folder's peers are the remotes sync up follows for it, each with its own link: `add FOLDER \
            REMOTE` stores one, `remove FOLDER REMOTE` forgets it, `list [FOLDER]` shows them with the \
            state of their links. REMOTE is HOST:FOLDER-ID, USER@HOST:FOLDER-ID or \
            ssh://[USER@]HOST[:PORT]/FOLDER-ID, or only [USER@]HOST[:PORT], to which the folder's id is \
            added: peers name a folder by its id, so the id must be this folder's. The peer must allow \
            this node for the folder (sync keys allow, or sync join). Peers are kept in the folder's \
            config (`peer` values); sync up picks up a change within seconds.
            """)
    public static let manual = Manual(
        output: """
            add/remove: `added REMOTE`, `removed REMOTE` or `unchanged REMOTE`. list: one line per peer, \
            `FOLDER-ID REMOTE STATE`, STATE being the link's (up, connecting, waiting, or idle when no \
            process follows it); --json gives an array of {folder, remote, state, node, peerSequence}.
            """,
        files: stateFiles + " Peers are `peer = REMOTE` lines of SYNC_DIR/folders/F/config.",
        examples: [("sync peer add ~/Documents me@desktop.lan", "follow the same folder on desktop.lan"),
                   ("sync peer list", "every folder's peers and their links")],
        seeAlso: ["sync-daemon", "sync-pull", "sync-keys", "sync-join"])

    enum Action: String, ExpressibleByArgument, CaseIterable { case add, list, remove }

    @Argument(help: "add, list or remove.")
    var action: Action

    @Argument(help: "The folder: its id, path or name (list: default every folder).", completion: .directory)
    var folder: String?

    @Argument(help: "The peer: HOST:FOLDER-ID, ssh://[USER@]HOST[:PORT]/FOLDER-ID or [USER@]HOST[:PORT].")
    var remote: String?

    @Flag(help: "Print JSON (list).")
    var json = false

    public init() {}

    public mutating func validate() throws {
        switch action {
        case .add, .remove:
            guard folder != nil, remote != nil else { throw ValidationError("\(action.rawValue) needs FOLDER and REMOTE") }
        case .list:
            if remote != nil { throw ValidationError("list takes at most a FOLDER") }
        }
        if json && action != .list { throw ValidationError("--json goes with list") }
    }

    /// REMOTE as stored: the ssh:// form, the folder's id added to a bare address.
    static func normalize(_ text: String, folder: FolderID) throws -> String {
        if let spec = try? RemoteSpec(text) {
            guard spec.folder == folder else {
                throw SyncError.invalidArgument("\(text): names folder \(spec.folder), not \(folder); peers name a folder by its id")
            }
            return spec.description
        }
        let bare = text.hasPrefix("ssh://") ? String(text.dropFirst(6)) : text
        guard let a = try? RemoteSpec.address(bare) else { _ = try RemoteSpec(text); return text }
        return "ssh://" + RemoteSpec.address(user: a.user, host: a.host, port: a.port) + "/" + folder.rawValue
    }

    struct Row: Encodable { let folder: String; let remote: String; let state: String; let node: String?; let peerSequence: Int64? }

    public func run() throws {
        try reporting("sync-peer") {
            let state = StateDirectory.fromEnvironment()
            switch action {
            case .add, .remove:
                var f = try state.folder(folder!)
                let r = try Self.normalize(remote!, folder: f.id)
                let present = f.config.values("peer").contains(r)
                if action == .add {
                    if present { return emit("unchanged \(r)") }
                    try f.config.add("peer", r)
                } else {
                    guard present else { throw SyncError.invalidArgument("folder \(f.id): \(r) is not one of its peers") }
                    try f.config.unset("peer", value: r)
                }
                try f.saveConfig()
                emit("\(action == .add ? "added" : "removed") \(r)")
            case .list:
                let folders = try folder.map { [try state.folder($0)] } ?? state.folders()
                let links = LinkBoard(state).links()
                var rows: [Row] = []
                for f in folders {
                    for p in try FolderStatus.peerLinks(f, index: FolderIndex(path: f.indexPath), links: links) {
                        guard let remote = p.remote else { continue } // a peer that dialed in is not one of the folder's
                        rows.append(Row(folder: f.id.rawValue, remote: remote, state: p.role == nil ? "idle" : p.state,
                                        node: p.node, peerSequence: p.peerSequence))
                    }
                }
                if json { return emit(try SyncCommands.json(rows)) }
                for r in rows { emit("\(r.folder) \(r.remote) \(r.state)") }
            }
        }
    }
}

public struct ConfirmCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-confirm",
        abstract: "Let a change that the deletion guard held back go to peers.",
        discussion: """
            When one recorded change deletes more than guard.deletions (50% by default) of a folder's \
            files, and at least guard.min-deletions (100) of them, sync-commit records it here but holds \
            it back: peers are not told of it and pulling from this node does not bring it (nor any \
            change recorded after it), so a slip such as rm -rf in the wrong directory stays on this \
            node. sync restore --at brings the files back; sync confirm lets the deletion, and what came \
            after it, go to peers as usual. sync status shows a held change.
            """)
    public static let manual = Manual(
        output: "`released FOLDER-ID from sequence N`, or `nothing held FOLDER-ID`.",
        files: stateFiles,
        examples: [("sync confirm ~/Documents", "spread the large deletion made in ~/Documents"),
                   ("sync restore ~/Documents --at HEAD~1", "or undo it instead (then confirm the restore)")],
        seeAlso: ["sync-status", "sync-restore", "sync-config", "sync-daemon"])

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    public init() {}

    public func run() throws {
        try reporting("sync-confirm") {
            let state = StateDirectory.fromEnvironment()
            let f = try state.folder(folder)
            let index = try FolderIndex(path: f.indexPath)
            guard let from = try index.release() else { return emit("nothing held \(f.id)") }
            // The links of this node tell their peers at once.
            try? NoticeBoard(state).post(f.id, sequence: try index.sequence())
            emit("released \(f.id) from sequence \(from)")
        }
    }
}
