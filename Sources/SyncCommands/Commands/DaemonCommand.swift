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
            sync-watch F | sync-commit F | sync-notify F, and for each of the folder's peers (sync peer) a \
            following link, sync-pull --follow REMOTE: a change saved here is recorded after the folder's \
            debounce and told at once to every peer with a link open, which pulls it; a change told by \
            a peer is pulled at once. A peer out of reach is dialed again with growing waits (up to \
            --retry-max, with jitter) and catches up on everything it missed when it comes back. A \
            child that dies is started again (after 1 s, doubling up to a minute while it keeps \
            dying). Each folder's history is pruned every history.prune-every (1d by default; off to \
            never) by sync-prune, within ten minutes of the start when it was never pruned; its summary \
            goes to the log. Folders and peers added, removed or reconfigured are picked up within two seconds. \
            SIGTERM or SIGINT stops it cleanly: each sync-watch is stopped so that its sync-commit \
            records what is pending and ends, each link finishes the batch it is applying and says \
            goodbye; what is still running after --stop-timeout is killed (every step is crash-safe). \
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

    @Option(help: "The longest wait between two dials of an unreachable peer (default 60s).")
    var retryMax: String = "60s"

    @Option(help: "How long a clean stop may take before what is left is killed (default 20s).")
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
                throw SyncError.invalidArgument("\(state.root): another sync daemon runs for this state directory (pid \(pid))")
            }
            defer { _ = lock }
            try FileSystem.writeAtomically(Array("\(getpid())\n".utf8), to: run + "/daemon.pid")
            defer { unlink(run + "/daemon.pid") }
            StopSignal.install()
            signal(SIGPIPE, SIG_IGN)
            setenv("SYNC_DAEMON_PID", String(getpid()), 1)
            let log = makeLogger("sync-daemon")
            let supervisor = Supervisor(state: state, log: log, retryMax: retryMax)
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
            supervisor.stopAll(timeout: Units.duration(stopTimeout)!)
            log.info("stopped")
        }
    }
}

/// The daemon's children: per folder a pipeline (watch | commit | notify) and a follower per peer.
final class Supervisor {
    enum Kind: Equatable { case pipeline(FolderID), follow(FolderID, String), prune(FolderID, Double) }

    struct Unit {
        let key: String
        var kind: Kind
        /// What the unit was started from: a change restarts it.
        var fingerprint: String
        var pids: [pid_t] = []
        var startedAt = Date()
        var failures = 0
        var nextStart: Date? = Date()
        var stopping = false
    }

    let state: StateDirectory
    let log: Logger
    let retryMax: String
    var units: [String: Unit] = [:]

    init(state: StateDirectory, log: Logger, retryMax: String) { self.state = state; self.log = log; self.retryMax = retryMax }

    /// What should run now: every folder that is there and not paused, and its peers.
    func desired() -> [String: (Kind, String)] {
        var out: [String: (Kind, String)] = [:]
        let folders: [Folder]
        do { folders = try state.folders() } catch {
            log.error("cannot read the folders: \(error)")
            return units.mapValues { ($0.kind, $0.fingerprint) }
        }
        for f in folders where f.state == .ok {
            out["pipeline \(f.id)"] = (.pipeline(f.id), f.config.text)
            for r in f.config.values("peer") { out["follow \(f.id) \(r)"] = (.follow(f.id, r), r) }
            if let every = f.config.pruneEvery { out["prune \(f.id)"] = (.prune(f.id, every), String(every)) }
        }
        return out
    }

    func reconcile() {
        let want = desired()
        for (key, unit) in units where !unit.stopping {
            if let w = want[key], w.1 == unit.fingerprint { continue }
            log.info("\(key): \(want[key] == nil ? "no longer wanted" : "settings changed"), stopping it")
            stop(key)
        }
        for (key, w) in want where units[key] == nil {
            units[key] = Unit(key: key, kind: w.0, fingerprint: w.1)
            if case .prune(let id, let every) = w.0 { units[key]!.nextStart = firstPrune(id, every: every) }
        }
    }

    func startDue() {
        for (key, unit) in units where unit.pids.isEmpty && !unit.stopping {
            guard let due = unit.nextStart, due <= Date() else { continue }
            do {
                units[key]!.pids = try start(unit.kind)
                units[key]!.startedAt = Date()
                units[key]!.nextStart = nil
                log.info("\(key): started (pid \(units[key]!.pids.map(String.init).joined(separator: ", ")))")
            } catch {
                log.error("\(key): cannot start: \(error)")
                schedule(key)
            }
        }
    }

    private func start(_ kind: Kind) throws -> [pid_t] {
        switch kind {
        case .pipeline(let id):
            var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
            guard pipe(&a) == 0 else { throw SyncError.io(path: "pipe", operation: "create", errno: errno) }
            guard pipe(&b) == 0 else { close(a[0]); close(a[1]); throw SyncError.io(path: "pipe", operation: "create", errno: errno) }
            // Only the dup2'd ends reach each child.
            for fd in a + b { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            defer { for fd in a + b { close(fd) } }
            var pids: [pid_t] = []
            do {
                pids.append(try spawn(siblingExecutable("sync-watch"), ["sync-watch", id.rawValue], stdoutFD: a[1]))
                pids.append(try spawn(siblingExecutable("sync-commit"), ["sync-commit", id.rawValue], stdin: a[0], stdoutFD: b[1]))
                pids.append(try spawn(siblingExecutable("sync-notify"), ["sync-notify", "--no-dial", id.rawValue], stdin: b[0], stdout: "/dev/null"))
            } catch {
                for p in pids { kill(p, SIGTERM) }
                throw error
            }
            return pids
        case .follow(_, let remote):
            return [try spawn(siblingExecutable("sync-pull"), ["sync-pull", "--follow", "--retry-max", retryMax, remote], stdout: "/dev/null")]
        case .prune(let id, _):
            // Its summary line goes to the log.
            return [try spawn(siblingExecutable("sync-prune"), ["sync-prune", id.rawValue], stdoutFD: 2)]
        }
    }

    /// When a folder's scheduled prune is due first: `every` after the last prune (the time its
    /// history was last rewritten), or within ten minutes when it was never pruned.
    func firstPrune(_ id: FolderID, every: Double) -> Date {
        guard let history = (try? state.folder(id.rawValue))?.historyPath,
              let last = HistoryRepository.lastRewrite(at: history) else { return Date().addingTimeInterval(min(every, 600)) }
        return last.addingTimeInterval(every)
    }

    /// Collects children that ended; a unit that ended without being asked is started again later.
    func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            guard let key = units.first(where: { $0.value.pids.contains(pid) })?.key else { continue }
            units[key]!.pids.removeAll { $0 == pid }
            let unit = units[key]!
            if unit.stopping {
                if unit.pids.isEmpty { units[key] = nil }
                continue
            }
            let how = (status & 0x7f) == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(status & 0x7f)"
            // A restart is due already: this is a part of the pipeline that was stopped with it.
            if unit.nextStart != nil {
                log.debug("\(key): pid \(pid) \(how), stopped with the rest of its pipeline")
                continue
            }
            if case .prune(_, let every) = unit.kind {
                // A one-shot: done (or failed) until its next turn.
                if status == 0 { log.info("\(key): done") } else { log.warning("\(key): pid \(pid) \(how)") }
                units[key]!.nextStart = Date().addingTimeInterval(every)
                continue
            }
            log.warning("\(key): pid \(pid) \(how)")
            // A pipeline is whole or not at all: the rest of it is stopped and it starts again together.
            for p in unit.pids { kill(p, SIGTERM) }
            schedule(key)
        }
    }

    private func schedule(_ key: String) {
        guard var unit = units[key] else { return }
        if Date().timeIntervalSince(unit.startedAt) > 60 { unit.failures = 0 }
        unit.failures += 1
        let delay = min(60, pow(2, Double(unit.failures - 1)))
        unit.nextStart = Date().addingTimeInterval(delay)
        units[key] = unit
        log.info("\(key): starting again in \(Int(delay)) s")
    }

    /// Asks a unit to stop: a pipeline through its watcher (the commit records what is pending, then
    /// the notifier ends with its input), a follower with SIGTERM.
    private func stop(_ key: String) {
        guard var unit = units[key] else { return }
        unit.stopping = true
        if unit.pids.isEmpty { units[key] = nil; return }
        units[key] = unit
        if case .pipeline = unit.kind { kill(unit.pids[0], SIGTERM) } else { for p in unit.pids { kill(p, SIGTERM) } }
    }

    func stopAll(timeout: Double) {
        for key in units.keys { stop(key) }
        let deadline = Date().addingTimeInterval(timeout)
        while !units.isEmpty && Date() < deadline {
            reap()
            // A pipeline whose watcher is gone but whose commit is still busy waits for it.
            _ = poll(nil, 0, 50)
        }
        for (key, unit) in units {
            log.warning("\(key): still running after \(Int(timeout)) s, killed")
            for p in unit.pids { kill(p, SIGKILL); waitpid(p, nil, 0) }
        }
        units.removeAll()
    }
}
