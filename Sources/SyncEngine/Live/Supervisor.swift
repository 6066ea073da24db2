import Foundation
import Logging
import SyncCore
import SyncGit

/// The daemon's children: per folder a pipeline (watch | commit | notify), per peer one follower
/// for every folder shared with it (one link), and per folder its scheduled prune.
public final class Supervisor {
    public enum Kind: Equatable, Sendable {
        case pipeline(FolderID)
        /// One link to a peer's address (`[user@]host[:port]` as the remotes spell it) for all these remotes.
        case follow(String, [String])
        case prune(FolderID, Double)
    }

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
    let processes: ChildProcesses
    var units: [String: Unit] = [:]
    /// Peers of folders' settings that are not remotes, warned of once.
    private var badRemotes: Set<String> = []

    public init(state: StateDirectory, log: Logger, processes: ChildProcesses) {
        self.state = state; self.log = log; self.processes = processes
    }

    /// What should run now: every folder that is there and not paused, and one link per peer
    /// address for the remotes of all such folders that name it (a change to the set restarts it).
    func desired() -> [String: (Kind, String)] {
        var out: [String: (Kind, String)] = [:]
        let folders: [Folder]
        do { folders = try state.folders() } catch {
            log.error("cannot read the folders: \(error)")
            return units.mapValues { ($0.kind, $0.fingerprint) }
        }
        var remotes: [String: Set<String>] = [:]
        for f in folders where f.state == .ok {
            out["pipeline \(f.id)"] = (.pipeline(f.id), f.config.text)
            for r in f.config.values("peer") {
                guard let spec = try? RemoteSpec(r) else {
                    if badRemotes.insert(r).inserted { log.warning("folder \(f.id): peer \(r): not a remote; skipped") }
                    continue
                }
                remotes[RemoteSpec.address(user: spec.user, host: spec.host, port: spec.port), default: []].insert(r)
            }
            if let every = f.config.pruneEvery { out["prune \(f.id)"] = (.prune(f.id, every), String(every)) }
        }
        for (address, set) in remotes {
            let list = set.sorted()
            out["follow \(address)"] = (.follow(address, list), list.joined(separator: " "))
        }
        return out
    }

    public func reconcile() {
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

    public func startDue() {
        for (key, unit) in units where unit.pids.isEmpty && !unit.stopping {
            guard let due = unit.nextStart, due <= Date() else { continue }
            do {
                units[key]!.pids = try processes.start(unit.kind)
                units[key]!.startedAt = Date()
                units[key]!.nextStart = nil
                log.info("\(key): started (pid \(units[key]!.pids.map(String.init).joined(separator: ", ")))")
            } catch {
                log.error("\(key): cannot start: \(error)")
                schedule(key)
            }
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
    public func reap() {
        while true {
            guard let (pid, status) = processes.reaped() else { return }
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
            for p in unit.pids { processes.signal(p, SIGTERM) }
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
        if case .pipeline = unit.kind { processes.signal(unit.pids[0], SIGTERM) } else { for p in unit.pids { processes.signal(p, SIGTERM) } }
    }

    /// Stops every unit and waits up to `timeout` for them; what still runs then, or as soon as
    /// `cut` says so (a second Ctrl-C), is killed (every step of theirs is crash-safe).
    public func stopAll(timeout: Double, cut: () -> Bool = { false }) {
        for key in units.keys { stop(key) }
        let deadline = Date().addingTimeInterval(timeout)
        while !units.isEmpty && Date() < deadline && !cut() {
            reap()
            // A pipeline whose watcher is gone but whose commit is still busy waits for it.
            _ = poll(nil, 0, 50)
        }
        for (key, unit) in units {
            log.warning("\(key): \(cut() ? "stopped at once on a second signal" : "still running after \(Int(timeout)) s"), killed")
            for p in unit.pids { processes.signal(p, SIGKILL); processes.wait(p) }
        }
        units.removeAll()
    }
}
