import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncGit

public struct DaemonCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-daemon",
        abstract: "Keep every folder in sync, live (what sync up runs).",
        discussion: """
            `sync up` runs this. For every folder of the node that is not paused it runs the pipeline \
            sync-watch F | sync-commit F | sync-notify F, and for each peer of its folders (sync peer) one \
            following link, sync-pull --follow REMOTE... (the folders whose remotes name the same \
            [USER@]HOST[:PORT] go over one SSH connection): a change saved here is recorded after the folder's \
            debounce and told at once to every peer with a link open, which pulls it; a change told by \
            a peer is pulled at once. A peer out of reach is dialed again with growing waits (up to \
            --retry-max, with jitter) and catches up on everything it missed when it comes back. A \
            child that dies is started again (after 1 s, doubling up to a minute while it keeps \
            dying). Each folder's history is pruned every history.prune-every (1d by default; off to \
            never) by sync-prune, within ten minutes of the start when it was never pruned; its summary \
            goes to the log. Folders and peers added, removed or reconfigured are picked up within two seconds. \
            SIGTERM or SIGINT stops it cleanly: each sync-watch is stopped so that its sync-commit \
            records what is pending and ends, each link records what it applied and ends, cutting a \
            transfer where it is (the next pull resumes it from there); what is still running after \
            --stop-timeout, or at a second SIGINT or SIGTERM, is killed (every step is crash-safe). \
            One daemon per state directory. Logs go to standard error (SYNC_LOG_LEVEL: debug, info, \
            notice, warning, error). A systemd user unit is installed by bin/setup as sync.service.
            """)
    public static let manual = Manual(
        output: "Nothing on standard output. Log lines on standard error: `TIME LEVEL LABEL : [METADATA] MESSAGE`.",
        exitStatus: "0 after a clean stop, 1 when it cannot start (another daemon runs for this SYNC_DIR), 2 on a usage error.",
        files: stateFiles + " SYNC_DIR/run/daemon.lock and daemon.pid; SYNC_DIR/run/notices/ and run/links/ (what sync status shows). When SYNC_DIR/run/trace exists, every link process of the node appends a line to it per notice and per pull.",
        examples: [("sync up", "run in the foreground until Ctrl-C"),
                   ("systemctl --user enable --now sync", "run under systemd (the unit bin/setup installs)")],
        seeAlso: ["sync-peer", "sync-status", "sync-notify", "sync-pull", "sync-watch", "sync-commit", "sync-prune"])

    @Option(help: "The longest wait between two dials of an unreachable peer.")
    var retryMax: String = "60s"

    @Option(help: "How long a clean stop may take before what is left is killed.")
    var stopTimeout: String = "20s"

    public init() {}

    public mutating func validate() throws {
        guard Units.duration(retryMax).map({ $0 > 0 }) == true else { throw ValidationError("--retry-max \(retryMax): not a duration such as 30s, 2m") }
        guard Units.duration(stopTimeout) != nil else { throw ValidationError("--stop-timeout \(stopTimeout): not a duration such as 20s") }
    }

    public func run() throws {
        try reporting("sync-daemon") {
            closeInheritedDescriptors()
            let state = StateDirectory.fromEnvironment()
            let run = state.root + "/run"
            try FileSystem.makeDirectories(run, mode: 0o700)
            let lock: FileLock
            do { lock = try FileLock(path: run + "/daemon.lock", wait: false) } catch {
                let pid = (try? String(contentsOfFile: run + "/daemon.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                throw SyncError.refused("\(state.root): another sync daemon runs for this state directory (pid \(pid))")
            }
            defer { _ = lock }
            try FileSystem.writeAtomically(Array("\(getpid())\n".utf8), to: run + "/daemon.pid")
            defer { unlink(run + "/daemon.pid") }
            StopSignal.install()
            signal(SIGPIPE, SIG_IGN)
            setenv("SYNC_DAEMON_PID", String(getpid()), 1)
            let log = makeLogger("sync-daemon")
            let supervisor = Supervisor(state: state, log: log, processes: .children(retryMax: retryMax))
            log.info("started for \(state.root)")
            var lastReconcile = Date.distantPast
            while !StopSignal.requested {
                supervisor.reap()
                if Date().timeIntervalSince(lastReconcile) >= 2 {
                    supervisor.reconcile()
                    lastReconcile = Date()
                }
                supervisor.startDue()
                StopSignal.sleep(0.25)
            }
            log.info("stopping")
            supervisor.stopAll(timeout: Units.duration(stopTimeout)!, cut: { StopSignal.again })
            log.info("stopped")
        }
    }
}
