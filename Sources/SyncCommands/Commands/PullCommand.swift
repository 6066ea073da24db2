import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol
import SyncSSH

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
            modification. A new version of a file above history.max-blob is made of the chunks of the local \
            version it shares (each such file has a manifest of content-defined chunks, made when it is \
            committed or received) and the few chunks fetched from the peer; other content comes as a \
            librsync delta against the local version when there is one \
            (a sparse file's holes are neither read nor sent, and it stays sparse), from this node when \
            a file or history already holds it, or whole; it is written to a temporary file, \
            verified against its hash, made durable (fsync; small files are fetched \
            ahead a window at a time, with their requests in flight together, and one syncfs covers a \
            window of more than 8) and renamed into place only if the local file did not change meanwhile. A file the \
            peer renamed or moved (a deletion and a new path with the same content in one batch) is \
            moved here too when the local copy is unchanged (files of 1 MiB and more: no copy, no \
            transfer). Each batch is recorded in the index and as a history commit. \
            Then, unless --no-offer is given, the pull offers this node's own changes to the peer on the \
            same link (only to a peer this node allows for the folder), which pulls them if it allows this \
            node for the folder; what its pull refused or left for later is shown as `sync-pull: host H: \
            its pull of ours: ...` and does not change the exit status. A paused folder is not pulled.

            With --follow the link stays open (this is what sync up runs for each peer) and REMOTE may \
            be given several times, for several folders at the same [USER@]HOST[:PORT]: one link carries \
            them all. It subscribes to the peer's notices for each folder, catches up, then pulls at once whenever the peer tells \
            of a sequence it does not hold (a folder the peer does not show is said so in the log and \
            in sync status, and asked for again every minute, while the others go on), and tells the peer of this node's own changes as they are \
            recorded (SYNC_DIR/run/notices). A file above 8 MiB comes in 8 MiB ranges: a notice of a \
            change that arrives during such a transfer goes first (the transfer stops after its range, \
            the change is pulled with big files left for after it, then the transfer resumes where it \
            stopped), so a small edit never waits behind a big file; a pull of many files makes way \
            for another folder's change at the end of a batch (up to 2,500 rows). It serves the peer's requests over the same link. When the \
            link drops or cannot be made it dials again after 1, 2, 4... seconds, with jitter, up to \
            --retry-max, and catches up on everything since the last sequence it holds. SIGTERM or \
            SIGINT ends it after the batch being applied. Log lines go to standard error \
            (SYNC_LOG_LEVEL). SYNC_KEEPALIVE (default 30s) is how often an idle link is checked; a link \
            silent for SYNC_IDLE_TIMEOUT (default 10m) is dialed again. A peer silent for SYNC_CALL_TIMEOUT \
            (default 2m) in the middle of a message or before an answer ends the pull with an error.
            """)
    public static let manual = Manual(
        output: """
            One line per change made here: `A PATH`, `M PATH`, `D PATH`, `R OLD -> NEW` (paths quoted as sync-watch \
            quotes them); for a conflict `M PATH` and `A COPY`; each batch's lines as soon as it is recorded. \
            Then `FOLDER-ID SEQUENCE COMMIT`. With \
            --dry-run, the lines of what would change and no final line. Entries refused or left for a \
            later pull are reported on standard error. --stats adds `received N bytes, sent N bytes, \
            content N bytes, files N (N from chunks)` on standard error.
            """,
        exitStatus: "0 when every entry was applied or skipped, 1 when the pull failed or left entries for later, 2 on a usage error.",
        files: stateFiles + " Pinned host keys: SYNC_DIR/node/known_hosts.",
        examples: [("sync pull desktop:7qk2m4r9x3b5c8dt", "bring the folder's changes from the host desktop"),
                   ("sync pull --dry-run ssh://me@nas:2222/7qk2m4r9x3b5c8dt", "list what a pull would change")],
        seeAlso: ["sync-keys", "sync-serve", "sync-conflicts"])

    @Argument(help: "The peer and folder: HOST:FOLDER-ID or ssh://[USER@]HOST[:PORT]/FOLDER-ID (with --follow, one or more, all at one peer).")
    var remotes: [String]

    /// The one remote of a pull that does not follow.
    var remote: String { remotes[0] }

    @Flag(help: "List what would change; change nothing.")
    var dryRun = false

    @Flag(help: "Do not offer this node's changes to the peer after pulling.")
    var noOffer = false

    @Flag(help: "Print byte counts on standard error.")
    var stats = false

    @Flag(help: "Keep the link open: pull at once whenever the peer tells of a change, tell it of ours, dial again when the link drops; until SIGTERM or SIGINT.")
    var follow = false

    @Option(help: "With --follow: the longest wait between two dials of an unreachable peer.")
    var retryMax: String = "60s"

    public init() {}

    public mutating func validate() throws {
        guard !remotes.isEmpty else { throw ValidationError("Missing expected argument '<remotes> ...'") }
        var address: String?
        for r in remotes {
            let spec: RemoteSpec
            do { spec = try RemoteSpec(r) } catch let e as SyncError { throw ValidationError(e.description) }
            let here = RemoteSpec.address(user: spec.user, host: spec.host, port: spec.port)
            if let a = address, a != here { throw ValidationError("\(r): not at \(a); one link follows the folders of one peer") }
            address = here
        }
        if remotes.count > 1 && !follow { throw ValidationError("several remotes go with --follow only") }
        if follow && (dryRun || noOffer || stats) { throw ValidationError("--follow goes with none of --dry-run, --no-offer and --stats") }
        guard let r = Units.duration(retryMax), r > 0 else { throw ValidationError("--retry-max \(retryMax): not a duration such as 30s, 2m") }
    }

    public func run() throws {
        try reporting("sync-pull") {
            let state = StateDirectory.fromEnvironment()
            let spec = try RemoteSpec(remote)
            if follow {
                let followed = try remotes.map { r in (remote: r, folder: try state.folder(try RemoteSpec(r).folder.rawValue)) }
                return try SyncCommands.follow(followed, spec: spec, state: state, retryMax: Units.duration(retryMax)!)
            }
            let folder = try state.folder(spec.folder.rawValue)
            var dialer = Dialer(state: state)
            dialer.warn = { warn("sync-pull: \($0)") }
            let dialed = try dialer.dial(spec)
            let context = try FolderContext(folder, state: state)
            let server = FolderServer(state: state, peer: dialed.peer)
            dialed.session.handler = server
            let remoteFolder = RemoteFolder(session: dialed.session, folder: folder.id.rawValue)
            let puller = Puller(context: context, remote: remoteFolder, peer: dialed.peer)
            puller.dryRun = dryRun
            let display = ProgressDisplay()
            let started = Date()
            puller.progress = { display.show(LinkStatus.Transfer($0, since: started).text(verb: "pulling")) }
            // Each batch's changes as it is recorded.
            puller.onChanges = { changes in
                display.clear()
                for c in changes { emit(c.line) }
            }
            let lock = dryRun ? nil : try FileLock(path: Puller.lockPath(folder, peer: dialed.peer))
            defer { _ = lock }
            let before = try context.index.sequence()
            let outcome: PullOutcome
            do { outcome = try puller.run() } catch let e as RemoteError {
                display.clear()
                if e.code == .notFound { throw SyncError.peer("host \(dialed.name): folder \(folder.id): not found") }
                throw SyncError.peer("host \(dialed.name): \(e.message)")
            } catch let e as ProtocolError {
                display.clear()
                throw SyncError.peer("host \(dialed.name): \(e)")
            }
            display.clear()
            for p in outcome.problems { warn("sync-pull: folder \(folder.id): \(p)") }
            for p in outcome.history.problems { warn("sync-pull: folder \(folder.id): \(p)") }
            if outcome.peerSequence == 0 {
                warn("sync-pull: host \(dialed.name): folder \(folder.id): the peer has recorded nothing yet (run sync commit FOLDER, or sync up, there)")
            }
            // Offered only to a peer this node lets see the folder: one allowed one way only pulls.
            if !dryRun && !noOffer && server.authorized(folder.id.rawValue) != nil {
                let answer: OfferAnswer
                do { answer = try remoteFolder.offer(sequence: try context.index.sequence()) } catch let e as ProtocolError {
                    throw SyncError.peer("host \(dialed.name): \(e)")
                }
                switch answer {
                case .taken: break
                case .notAllowed: warn("sync-pull: host \(dialed.name): folder \(folder.id): offer not taken: the peer does not let this node send it")
                case .problems(let lines): for line in lines { warn("sync-pull: host \(dialed.name): its pull of ours: \(line)") }
                }
            }
            try? dialed.session.send(.bye)
            dialed.connection.finish()
            if stats {
                warn("received \(dialed.session.link.bytesIn) bytes, sent \(dialed.session.link.bytesOut) bytes, content \(outcome.contentBytes) bytes, files \(outcome.filesFetched) (\(outcome.filesFromChunks) from chunks)")
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
