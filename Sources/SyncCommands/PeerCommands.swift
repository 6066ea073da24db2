import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol
import SyncSSH

public struct ServeCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-serve",
        abstract: "Serve this node's folders to one peer over standard input and output.",
        discussion: """
            The SSH forced command that sync keys writes into authorized_keys: sshd runs it for a peer's \
            key, with the peer's node id in --peer. It speaks the framed protocol on standard input and \
            output and never runs a shell; SSH_ORIGINAL_COMMAND is ignored. Every request is authorized \
            against the folder's authorized keys; a folder the peer may not see is answered exactly as a \
            folder that does not exist. When the peer offers a folder this node lets it send, it is pulled \
            over the same link. Diagnostics go to standard error (from warning on, or SYNC_LOG_LEVEL): \
            it reaches the dialing side. This node's own record of the link and of every pull it ran \
            is SYNC_DIR/log/sync-serve.log, from info on (under 1 MiB; the older lines in .1).

            Budgets: a peer holds at most SYNC_MAX_LINKS links (default 16) open to this node at once; a \
            silence of SYNC_CALL_TIMEOUT (default 2m) in the middle of a message, or of SYNC_IDLE_TIMEOUT \
            (default 10m) on a link, ends the link. Every field a peer sends is checked for range and \
            length as it is decoded, a delta signature is stored only for a folder the peer may see and \
            is at most 256 MiB, and no request may come inside a delta request.
            """)
    public static let manual = Manual(
        output: "Protocol frames only. Nothing else is ever written to standard output.",
        exitStatus: "0 when the peer closed the link, 1 when the link broke or the peer failed its handshake, 2 on a usage error.",
        files: stateFiles + " The authorized keys of folder F are in SYNC_DIR/folders/F/authorized_keys.",
        examples: [("restrict,command=\"sync-serve --state-dir ~/.local/share/sync --peer ID\" ssh-ed25519 AAAA...",
                    "the authorized_keys line sync keys allow writes")],
        seeAlso: ["sync-keys", "sync-pull"])

    @Option(help: "The node's state directory (default: SYNC_DIR).", completion: .directory)
    var stateDir: String?

    @Option(help: "The node id of the peer whose key sshd accepted.")
    var peer: String?

    @Option(help: "The id of the invite whose key sshd accepted: only a join of its folder is served.")
    var invite: String?

    @Option(help: "With --invite: the authorized_keys file to rewrite once the invite is used.", completion: .file())
    var authorizedKeys: String?

    public init() {}

    public mutating func validate() throws {
        switch (peer, invite) {
        case (let p?, nil): if (try? NodeID(p)) == nil { throw ValidationError("\(p): not a node id") }
        case (nil, let i?): if (try? NodeID(i)) == nil { throw ValidationError("\(i): not an invite id") }
        default: throw ValidationError("give exactly one of --peer and --invite")
        }
        if authorizedKeys != nil && invite == nil { throw ValidationError("--authorized-keys goes with --invite") }
    }

    public func run() throws {
        // Standard output carries frames: nothing else may be written there.
        signal(SIGPIPE, SIG_IGN)
        try reporting("sync-serve") {
            let state = stateDir.map { StateDirectory(root: $0) } ?? .fromEnvironment()
            let settings = try LinkSettings.fromEnvironment()
            let session = Session(link: Link(FileDescriptorTransport(), callTimeout: settings.callTimeout),
                                  identity: try state.identity(), dialing: false)
            if let invite { return try serveInvite(try NodeID(invite), session, state) }
            let expected = try NodeID(peer!)
            // A peer holds at most so many links here at once, before it costs anything more.
            guard let slot = try LinkSlots.take(state, peer: expected, limit: settings.maxLinks) else {
                throw SyncError.invalidArgument("peer \(expected.short): already \(settings.maxLinks) links open (SYNC_MAX_LINKS); refusing another")
            }
            defer { _ = slot }
            let proven = try session.handshake()
            guard proven == expected else {
                throw SyncError.invalidArgument("peer proved node \(proven.short), but its SSH key is that of \(expected.short)")
            }
            let server = FolderServer(state: state, peer: proven)
            // Standard error reaches the dialing side only when the link ends: problems only. This
            // node's own record of the link and its pulls is SYNC_DIR/log/sync-serve.log.
            let log = makeLogger("sync-serve", defaultLevel: .warning, file: state.root + "/log/sync-serve.log")
            pullOnOffer(server, state: state, peer: proven, log: log)
            session.handler = server
            StopSignal.install()
            let loop = LinkLoop(session: session, server: server, state: state, peer: proven, following: nil)
            loop.idleTimeout = settings.idleTimeout
            loop.keepalive = settings.keepalive
            loop.log = log
            loop.stopRequested = { StopSignal.requested }
            do { try loop.run() } catch let e as ProtocolError {
                throw SyncError.invalidArgument("peer \(proven.short): \(e)")
            }
        }
    }

    /// A link opened with an invite key: the peer proves its node key and may ask once to join the
    /// invite's folder; the invite is then used up and the peer's key allowed for the folder.
    private func serveInvite(_ invite: NodeID, _ session: Session, _ state: StateDirectory) throws {
        let file = authorizedKeys.map { AuthorizedKeysFile(path: $0) } ?? .fromEnvironment()
        let proven = try session.handshake()
        let handler = InviteHandler(state: state, invite: invite) { folder, key in
            try FolderAccess.allow(key, for: folder)
            try rewriteAuthorizedKeys(state, file: file)
        }
        session.handler = handler
        do { try session.serveUntilClosed() } catch let e as ProtocolError {
            throw SyncError.invalidArgument("invite \(invite.short), node \(proven.short): \(e)")
        }
    }
}

/// Rewrites this node's managed block in the authorized_keys file from every folder's allowed keys
/// and the invites still open.
func rewriteAuthorizedKeys(_ state: StateDirectory, file: AuthorizedKeysFile = .fromEnvironment()) throws {
    try file.update(keys: try FolderAccess.allKeys(state), invites: Invites(state).active(),
                    server: siblingExecutable("sync-serve"), state: state)
}

public struct PullCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-pull",
        abstract: "Bring a folder's changes from a peer over SSH.",
        discussion: """
            REMOTE is HOST:FOLDER-ID, USER@HOST:FOLDER-ID or ssh://[USER@]HOST[:PORT]/FOLDER-ID; HOST may \
            be an alias of ~/.ssh/config, whose HostName, Port, User and IdentityFile are honoured. The \
            folder must be registered here under the same id (sync init --id, or sync join). The peer's \
            host key must match the one pinned in SYNC_DIR/node/known_hosts (or ~/.ssh/known_hosts); a \
            host seen for the first time is pinned. The pull asks for the index rows changed since the \
            last sequence seen from that peer and decides each by version vector: a newer remote \
            version is taken, an older or equal one skipped, concurrent ones are a conflict: the later \
            modification keeps the path and the other is kept beside it as \
            NAME.sync-conflict-DATE-TIME-NODE-CONTENT.EXT (see sync conflicts). A deletion never wins over a \
            modification. Content comes as a librsync delta against the local version when there is one, \
            from this node when a file or history already holds it, or whole; it is written to a \
            temporary file, verified against its hash, made durable (fsync; small files are fetched \
            ahead a window at a time, with their requests in flight together, and one syncfs covers the \
            window) and renamed into place only if the local file did not change meanwhile. Each batch is recorded in the index and as a history commit. \
            Then, unless --no-offer is given, the pull offers this node's own changes to the peer on the \
            same link (only to a peer this node allows for the folder), which pulls them if it allows this \
            node for the folder; what its pull refused or left for later is shown as `sync-pull: host H: \
            its pull of ours: ...` and does not change the exit status. A paused folder is not pulled.

            With --follow the link stays open (this is what sync up runs for each peer): it subscribes \
            to the peer's notices for the folder, catches up, then pulls at once whenever the peer tells \
            of a sequence it does not hold, and tells the peer of this node's own changes as they are \
            recorded (SYNC_DIR/run/notices). It serves the peer's requests over the same link. When the \
            link drops or cannot be made it dials again after 1, 2, 4... seconds, with jitter, up to \
            --retry-max, and catches up on everything since the last sequence it holds. SIGTERM or \
            SIGINT ends it after the batch being applied. Log lines go to standard error \
            (SYNC_LOG_LEVEL). SYNC_KEEPALIVE (default 30s) is how often an idle link is checked; a link \
            silent for SYNC_IDLE_TIMEOUT (default 10m) is dialed again. A peer silent for SYNC_CALL_TIMEOUT \
            (default 2m) in the middle of a message or before an answer ends the pull with an error.
            """)
    public static let manual = Manual(
        output: """
            One line per change made here: `A PATH`, `M PATH`, `D PATH` (paths quoted as sync-watch \
            quotes them); for a conflict `M PATH` and `A COPY`. Then `FOLDER-ID SEQUENCE COMMIT`. With \
            --dry-run, the lines of what would change and no final line. Entries refused or left for a \
            later pull are reported on standard error. --stats adds `received N bytes, sent N bytes, \
            content N bytes, files N` on standard error.
            """,
        exitStatus: "0 when every entry was applied or skipped, 1 when the pull failed or left entries for later, 2 on a usage error.",
        files: stateFiles + " Pinned host keys: SYNC_DIR/node/known_hosts.",
        examples: [("sync pull desktop:7qk2m4r9x3b5c8dt", "bring the folder's changes from the host desktop"),
                   ("sync pull --dry-run ssh://me@nas:2222/7qk2m4r9x3b5c8dt", "list what a pull would change")],
        seeAlso: ["sync-keys", "sync-serve", "sync-conflicts"])

    @Argument(help: "The peer and folder: HOST:FOLDER-ID or ssh://[USER@]HOST[:PORT]/FOLDER-ID.")
    var remote: String

    @Flag(help: "List what would change; change nothing.")
    var dryRun = false

    @Flag(help: "Do not offer this node's changes to the peer after pulling.")
    var noOffer = false

    @Flag(help: "Print byte counts on standard error.")
    var stats = false

    @Flag(help: "Keep the link open: pull at once whenever the peer tells of a change, tell it of ours, dial again when the link drops; until SIGTERM or SIGINT.")
    var follow = false

    @Option(help: "With --follow: the longest wait between two dials of an unreachable peer (default 60s).")
    var retryMax: String = "60s"

    public init() {}

    public mutating func validate() throws {
        do { _ = try RemoteSpec(remote) } catch let e as SyncError { throw ValidationError(e.description) }
        if follow && (dryRun || noOffer || stats) { throw ValidationError("--follow goes with none of --dry-run, --no-offer and --stats") }
        guard let r = Units.duration(retryMax), r > 0 else { throw ValidationError("--retry-max \(retryMax): not a duration such as 30s, 2m") }
    }

    public func run() throws {
        try reporting("sync-pull") {
            let state = StateDirectory.fromEnvironment()
            let spec = try RemoteSpec(remote)
            let folder = try state.folder(spec.folder.rawValue)
            if follow {
                return SyncCommands.follow(remote, spec: spec, folder: folder, state: state, retryMax: Units.duration(retryMax)!)
            }
            var dialer = Dialer(state: state)
            dialer.warn = { warn("sync-pull: \($0)") }
            let dialed = try dialer.dial(spec)
            let context = try FolderContext(folder, state: state)
            let server = FolderServer(state: state, peer: dialed.peer)
            dialed.session.handler = server
            let puller = Puller(context: context, remote: RemoteFolder(session: dialed.session, folder: folder.id.rawValue),
                                peer: dialed.peer)
            puller.dryRun = dryRun
            let display = ProgressDisplay()
            puller.progress = { display.show("pulling \($0.entriesDone)/\($0.entriesTotal) entries, \(Units.formatBytes($0.bytesReceived))") }
            let lock = dryRun ? nil : try FileLock(path: Puller.lockPath(folder, peer: dialed.peer))
            defer { _ = lock }
            let before = try context.index.sequence()
            let outcome: PullOutcome
            do { outcome = try puller.run() } catch let e as RemoteError {
                display.clear()
                if e.code == .notFound { throw SyncError.invalidArgument("host \(dialed.name): folder \(folder.id): not found") }
                throw SyncError.invalidArgument("host \(dialed.name): \(e.message)")
            } catch let e as ProtocolError {
                display.clear()
                throw SyncError.invalidArgument("host \(dialed.name): \(e)")
            }
            display.clear()
            for c in outcome.changes { emit(c.line) }
            for p in outcome.problems { warn("sync-pull: folder \(folder.id): \(p)") }
            // Offered only to a peer this node lets see the folder: one allowed one way only pulls.
            if !dryRun && !noOffer && server.authorized(folder.id.rawValue) != nil {
                let id = dialed.session.newRequestID()
                try dialed.session.send(.offer(id: id, folder: folder.id.rawValue, sequence: try context.index.sequence()))
                switch try dialed.session.next(for: id) {
                case .end: break
                case .error(_, .notFound, _): warn("sync-pull: host \(dialed.name): folder \(folder.id): offer not taken: the peer does not let this node send it")
                case .error(_, _, let m):
                    for line in m.split(separator: "\n") { warn("sync-pull: host \(dialed.name): its pull of ours: \(line)") }
                default: throw SyncError.invalidArgument("host \(dialed.name): unexpected answer to an offer")
                }
            }
            try? dialed.session.send(.bye)
            dialed.connection.finish()
            if stats {
                warn("received \(dialed.session.link.bytesIn) bytes, sent \(dialed.session.link.bytesOut) bytes, content \(outcome.contentBytes) bytes, files \(outcome.filesFetched)")
            }
            if !dryRun {
                let commit = try outcome.commit ?? context.index.meta(MetaKey.commit) ?? "-"
                emit("\(folder.id) \(outcome.sequence) \(commit)")
                // This node's links tell their peers of what came.
                if outcome.sequence > before { try? NoticeBoard(state).post(folder.id, sequence: outcome.sequence) }
            }
            if outcome.held {
                throw ExitCode(1)
            }
        }
    }
}

public struct JoinCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-join",
        abstract: "Join a folder of another node with the token its sync keys invite printed.",
        discussion: """
            Registers the folder of the token at PATH on this node under the same folder id (PATH is \
            made if it does not exist; files already in it are kept and meet the peer's on the first \
            pull), checks that the peer's sshd shows the host key the token names and pins it, proves \
            this node's key over a login with the token's one-time invite key, and has the peer allow \
            this node for the folder. This node allows the inviting node for the folder in turn and adds it \
            as the folder's peer (sync peer list), so that sync up follows it. The token is used up, on \
            success or not, once the peer has seen it. Nothing is copied yet: bring the files with sync \
            pull and the remote printed, or run sync up.
            """)
    public static let manual = Manual(
        output: "The folder id, then the remote to pull from (HOST:FOLDER-ID or ssh://...).",
        exitStatus: "0 when joined, 1 when the token is void, the peer cannot be reached or refuses, 2 on a usage error.",
        files: stateFiles + " Pinned host keys: SYNC_DIR/node/known_hosts.",
        examples: [("sync join sync-invite-1:eyJhZGRy... ~/Documents", "join the folder the token names, at ~/Documents"),
                   ("sync pull me@desktop.lan:7qk2m4r9x3b5c8dt", "then bring its files")],
        seeAlso: ["sync-keys", "sync-pull", "sync-init"])

    @Argument(help: "The token sync keys invite printed on the other node.")
    var token: String

    @Argument(help: "Where the folder goes on this node.", completion: .directory)
    var path: String

    @Option(help: "A name for the folder on this node.")
    var name: String?

    public init() {}

    public mutating func validate() throws {
        do { _ = try InviteToken(text: token) } catch let e as SyncError { throw ValidationError(e.description) }
    }

    public func run() throws {
        try reporting("sync-join") {
            let state = StateDirectory.fromEnvironment()
            let invite = try InviteToken(text: token)
            guard invite.expires >= Int64(Date().timeIntervalSince1970) else {
                let when = Date(timeIntervalSince1970: Double(invite.expires)).formatted(.iso8601)
                throw SyncError.invalidArgument("the invite expired at \(when); ask for a new one (sync keys invite)")
            }
            let identity = try state.identity()
            guard invite.node != identity.id else { throw SyncError.invalidArgument("the invite is this node's own") }
            var made = false
            if !FileManager.default.fileExists(atPath: path) {
                try FileSystem.makeDirectories(path, mode: 0o755)
                made = true
            }
            // Registered first: every local reason to refuse comes before the one-time token is spent.
            let folder: Folder
            do { folder = try Registry.initFolder(at: path, name: name, id: invite.folder, state: state) } catch {
                if made { rmdir(path) }
                throw error
            }
            do {
                try join(invite, state, folder)
            } catch {
                try? FileManager.default.removeItem(atPath: folder.directory)
                if made { rmdir(path) }
                throw error
            }
            try FolderAccess.allow(PeerKey(rawKey: invite.nodeKey), for: folder)
            try rewriteAuthorizedKeys(state)
            // The inviting node becomes the folder's peer: sync up follows it.
            var joined = try state.folder(folder.id.rawValue)
            try joined.config.add("peer", try invite.remote.description)
            try joined.saveConfig()
            emit(folder.id.rawValue)
            emit(invite.remoteText)
        }
    }

    private func join(_ invite: InviteToken, _ state: StateDirectory, _ folder: Folder) throws {
        let keyPath = state.nodePath + "/invite-\(getpid())"
        try invite.writeKey(to: keyPath)
        defer { unlink(keyPath); unlink(keyPath + ".pub") }
        var dialer = Dialer(state: state)
        dialer.warn = { warn("sync-join: \($0)") }
        dialer.loginKey = keyPath
        dialer.expectedHostKey = HostKey(type: invite.hostKeyType, blob: invite.hostKey)
        let remote = try invite.remote
        let refused = SyncError.invalidArgument(
            "host \(KnownHosts.name(host: invite.host, port: invite.port)): the invite was refused (used, expired or withdrawn); ask for a new one")
        let dialed: Dialer.Dialed
        // sshd no longer knowing the invite key is the usual sign of a used or expired invite.
        do { dialed = try dialer.dial(remote) } catch let e as SSHError where e.kind == .authentication { throw refused }
        guard dialed.peer == invite.node else {
            throw SyncError.invalidArgument("host \(dialed.name): it proved node \(dialed.peer.short), not \(invite.node.short) the invite names")
        }
        let id = dialed.session.newRequestID()
        try dialed.session.send(.join(id: id, folder: invite.folder.rawValue))
        switch try dialed.session.next(for: id) {
        case .end: break
        case .error: throw refused
        default: throw SyncError.invalidArgument("host \(dialed.name): unexpected answer to a join")
        }
        try? dialed.session.send(.bye)
        dialed.connection.finish()
    }
}

/// A one-line progress display on a terminal's standard error; silent otherwise.
final class ProgressDisplay {
    let active = isatty(2) == 1
    var last = Date.distantPast
    var shown = false
    func show(_ text: @autoclosure () -> String) {
        guard active, Date().timeIntervalSince(last) > 0.2 else { return }
        last = Date()
        shown = true
        writeAll("\r\u{1B}[K" + text(), to: 2)
    }
    func clear() { if shown { writeAll("\r\u{1B}[K", to: 2); shown = false } }
}

public struct ConflictsCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-conflicts",
        abstract: "List conflict copies and how to keep either version.",
        discussion: """
            When two nodes changed a file concurrently, the later change keeps the path and the other is \
            kept beside it as NAME.sync-conflict-DATE-TIME-NODE-CONTENT.EXT, on every node. This lists each copy \
            with the version at the original path and the commands that keep one or the other. Both \
            versions are also in history (sync log, sync restore).
            """)
    public static let manual = Manual(
        output: """
            For each conflict: `conflict PATH`, then `  kept:  PATH (SIZE, HASH)`, `  other: COPY (SIZE, \
            HASH)` and two commands: keep the other version (mv COPY PATH) or keep the current one (rm \
            COPY). With --json, an array of {path, copy, keptHash, keptSize, otherHash, otherSize}.
            """,
        files: stateFiles,
        examples: [("sync conflicts ~/Documents", "list the conflicts of a folder")],
        seeAlso: ["sync-pull", "sync-restore"])

    @Argument(help: "The folder: its id, path or name (default: every folder).", completion: .directory)
    var folder: String?

    @Flag(help: "Print JSON.")
    var json = false

    public init() {}

    struct Row: Encodable {
        let folder: String; let path: String; let copy: String
        let keptHash: String?; let keptSize: Int64?; let otherHash: String?; let otherSize: Int64
    }

    public func run() throws {
        try reporting("sync-conflicts") {
            let state = StateDirectory.fromEnvironment()
            let folders = try folder.map { [try state.folder($0)] } ?? state.folders()
            var rows: [Row] = []
            for f in folders {
                let index = try FolderIndex(path: f.indexPath)
                for e in try index.allEntries() where !e.deleted && e.kind != .directory {
                    guard let original = Reconcile.original(ofCopy: e.path) else { continue }
                    let kept = try index.entry(original)
                    let live = kept.flatMap { $0.deleted ? nil : $0 }
                    rows.append(Row(folder: f.id.rawValue, path: original.rawValue, copy: e.path.rawValue,
                                    keptHash: live?.hash, keptSize: live?.size, otherHash: e.hash, otherSize: e.size))
                }
            }
            if json { return emit(try SyncCommands.json(rows)) }
            let roots = Dictionary(uniqueKeysWithValues: folders.map { ($0.id.rawValue, $0.root) })
            for r in rows {
                let root = roots[r.folder] ?? ""
                let p = shellQuote(root + "/" + r.path), c = shellQuote(root + "/" + r.copy)
                emit("conflict \(PathQuoting.quote(r.path))")
                emit("  kept:  \(PathQuoting.quote(r.path)) (\(r.keptSize.map { Units.formatBytes($0) } ?? "deleted"), \(r.keptHash.map { String($0.prefix(7)) } ?? "-"))")
                emit("  other: \(PathQuoting.quote(r.copy)) (\(Units.formatBytes(r.otherSize)), \(r.otherHash.map { String($0.prefix(7)) } ?? "-"))")
                emit("  keep the other version:  mv \(c) \(p)")
                emit("  keep the current version: rm \(c)")
            }
        }
    }
}

func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
