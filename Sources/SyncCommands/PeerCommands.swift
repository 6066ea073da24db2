import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol

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
            over the same link. Diagnostics go to standard error.
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
    var peer: String

    public init() {}

    public mutating func validate() throws {
        if (try? NodeID(peer)) == nil { throw ValidationError("\(peer): not a node id") }
    }

    public func run() throws {
        // Standard output carries frames: nothing else may be written there.
        signal(SIGPIPE, SIG_IGN)
        try reporting("sync-serve") {
            let state = stateDir.map { StateDirectory(root: $0) } ?? .fromEnvironment()
            let expected = try NodeID(peer)
            let session = Session(link: Link(FileDescriptorTransport()), identity: try state.identity(), dialing: false)
            let proven = try session.handshake()
            guard proven == expected else {
                throw SyncError.invalidArgument("peer proved node \(proven.short), but its SSH key is that of \(expected.short)")
            }
            let server = FolderServer(state: state, peer: proven)
            server.onOffer = { folder, session in
                let puller = Puller(context: try FolderContext(folder, state: state),
                                    remote: RemoteFolder(session: session, folder: folder.id.rawValue), peer: proven)
                let outcome = try puller.run()
                for p in outcome.problems { warn("sync-serve: folder \(folder.id): \(p)") }
            }
            session.handler = server
            do { try session.serveUntilClosed() } catch let e as ProtocolError {
                throw SyncError.invalidArgument("peer \(proven.short): \(e)")
            }
        }
    }
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
            NAME.sync-conflict-DATE-TIME-NODE.EXT (see sync conflicts). A deletion never wins over a \
            modification. Content comes as a librsync delta against the local version when there is one, \
            from this node when a file or history already holds it, or whole; it is written to a \
            temporary file, verified against its hash, fsynced, and renamed into place only if the local \
            file did not change meanwhile. Each batch is recorded in the index and as a history commit. \
            Then, unless --no-offer is given, the pull offers this node's own changes to the peer on the \
            same link, which pulls them if it allows this node for the folder.
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

    public init() {}

    public mutating func validate() throws {
        do { _ = try RemoteSpec(remote) } catch let e as SyncError { throw ValidationError(e.description) }
    }

    public func run() throws {
        try reporting("sync-pull") {
            let state = StateDirectory.fromEnvironment()
            let spec = try RemoteSpec(remote)
            let folder = try state.folder(spec.folder.rawValue)
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
            if !dryRun && !noOffer {
                let id = dialed.session.newRequestID()
                try dialed.session.send(.offer(id: id, folder: folder.id.rawValue, sequence: try context.index.sequence()))
                switch try dialed.session.next(for: id) {
                case .end: break
                case .error(_, _, let m): warn("sync-pull: host \(dialed.name): offer not taken: \(m)")
                default: throw SyncError.invalidArgument("host \(dialed.name): unexpected answer to an offer")
                }
            }
            try? dialed.session.send(.bye)
            dialed.connection.finish()
            if stats {
                warn("received \(dialed.session.link.bytesIn) bytes, sent \(dialed.session.link.bytesOut) bytes, content \(outcome.contentBytes) bytes, files \(outcome.filesFetched)")
            }
            if !dryRun {
                let commit = try outcome.commit ?? context.index.meta("commit") ?? "-"
                emit("\(folder.id) \(outcome.sequence) \(commit)")
            }
            if !outcome.problems.isEmpty && outcome.problems.contains(where: { $0.hasSuffix("left for the next pull") }) {
                throw ExitCode(1)
            }
        }
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
            kept beside it as NAME.sync-conflict-DATE-TIME-NODE.EXT, on every node. This lists each copy \
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
