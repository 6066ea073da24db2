import Foundation
import Logging
import Testing
@testable import SyncCore
@testable import SyncEngine

/// The daemon's supervisor with made-up children: what it starts, stops and starts again, and
/// what it logs, without a process.
@Suite struct SupervisorTests {
    /// Children that exist only here: pids handed out in turn, signals noted, ends reported when
    /// the test says.
    final class Children: @unchecked Sendable {
        let lock = NSLock()
        var next: pid_t = 1000
        var started: [(Supervisor.Kind, [pid_t])] = []
        var signals: [(pid_t, Int32)] = []
        var ended: [(pid_t, Int32)] = []

        var processes: ChildProcesses {
            ChildProcesses(
                start: { kind in
                    self.lock.withLock {
                        let count = if case .pipeline = kind { 3 } else { 1 }
                        let pids = (0..<count).map { _ in self.next += 1; return self.next }
                        self.started.append((kind, pids))
                        return pids
                    }
                },
                signal: { pid, sig in self.lock.withLock { self.signals.append((pid, sig)) } },
                reaped: { self.lock.withLock { self.ended.isEmpty ? nil : self.ended.removeFirst() } },
                wait: { _ in })
        }

        func end(_ pid: pid_t, status: Int32 = 1 << 8) { lock.withLock { ended.append((pid, status)) } }
    }

    /// Log lines, kept.
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var all: [String] = []
        func add(_ s: String) { lock.withLock { all.append(s) } }
    }

    struct Collect: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(event: LogEvent) {
            lines.add("\(event.level) \(event.message)")
        }
    }

    func supervisor(_ f: Fixture, _ children: Children, _ lines: Lines) -> Supervisor {
        Supervisor(state: f.state, log: Logger(label: "test") { _ in Collect(lines: lines) }, processes: children.processes)
    }

    @Test func aPipelineWhoseChildDiesStopsWholeAndStartsAgainOnceWithBackoff() throws {
        let f = try Fixture()
        let children = Children(), lines = Lines()
        let s = supervisor(f, children, lines)
        s.reconcile()
        s.startDue()
        #expect(children.started.count == 1)
        let pids = children.started[0].1
        #expect(children.started[0].0 == .pipeline(f.context.folder.id))
        // The commit dies: the other two are stopped, and the pipeline starts again after 1 s.
        children.end(pids[1])
        s.reap()
        #expect(Set(children.signals.filter { $0.1 == SIGTERM }.map(\.0)) == [pids[0], pids[2]])
        children.end(pids[0], status: 0)
        children.end(pids[2], status: 15)
        s.reap()
        #expect(lines.all.filter { $0.contains("starting again") }.count == 1, "\(lines.all)")
        s.startDue()
        #expect(children.started.count == 1, "started again before its wait")
        usleep(1_100_000)
        s.startDue()
        #expect(children.started.count == 2)
        // Dying again at once doubles the wait.
        children.end(children.started[1].1[0])
        s.reap()
        #expect(lines.all.last(where: { $0.contains("starting again") })?.hasSuffix("starting again in 2 s") == true, "\(lines.all)")
    }

    @Test func aFolderPausedOrGoneIsStoppedAndAPeerAddedIsFollowed() throws {
        let f = try Fixture()
        let children = Children(), lines = Lines()
        let s = supervisor(f, children, lines)
        s.reconcile()
        s.startDue()
        var folder = try Folder(id: f.context.folder.id, stateDirectory: f.state)
        try folder.config.add("peer", "ssh://example/\(folder.id)")
        try folder.saveConfig()
        s.reconcile()
        s.startDue()
        #expect(children.started.map(\.0).contains(.follow("example", ["ssh://example/\(folder.id)"])))
        try folder.config.set("paused", "true")
        try folder.saveConfig()
        s.reconcile()
        // The pipeline is stopped through its watcher; the follower with SIGTERM.
        let pipeline = children.started[0].1, follower = children.started[1].1[0]
        #expect(children.signals.contains { $0 == (pipeline[0], SIGTERM) })
        #expect(children.signals.contains { $0 == (follower, SIGTERM) })
        #expect(!children.signals.contains { $0.0 == pipeline[1] })
        for p in pipeline + [follower] { children.end(p, status: 0) }
        s.reap()
        s.startDue()
        #expect(children.started.count == 2, "a paused folder is not started again")
    }
}

extension SupervisorTests {
    /// The folders shared with one peer go over one link: one follower for all their remotes at
    /// one address, started again when the set changes; another address has its own.
    @Test func theFoldersOfOnePeerShareOneFollower() throws {
        let f = try Fixture()
        let children = Children(), lines = Lines()
        let s = supervisor(f, children, lines)
        let second = f.base + "/second"
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        var a = try Folder(id: f.context.folder.id, stateDirectory: f.state)
        var b = try Registry.initFolder(at: second, state: f.state)
        try a.config.add("peer", "ssh://me@desk:2222/\(a.id)")
        try a.config.add("peer", "laptop:\(a.id)")
        try a.saveConfig()
        try b.config.add("peer", "ssh://me@desk:2222/\(b.id)")
        try b.saveConfig()
        s.reconcile()
        s.startDue()
        let follows = children.started.map(\.0).filter { if case .follow = $0 { true } else { false } }
        let both = ["ssh://me@desk:2222/\(a.id)", "ssh://me@desk:2222/\(b.id)"].sorted()
        #expect(Set(follows.map { "\($0)" }) == Set([Supervisor.Kind.follow("me@desk:2222", both), .follow("laptop", ["laptop:\(a.id)"])].map { "\($0)" }),
                "\(follows)")
        // A folder that stops sharing with the peer restarts its link with the rest.
        try b.config.unset("peer", value: "ssh://me@desk:2222/\(b.id)")
        try b.saveConfig()
        s.reconcile()
        let desk = try #require(children.started.first { $0.0 == .follow("me@desk:2222", both) }?.1.first)
        #expect(children.signals.contains { $0 == (desk, SIGTERM) })
        children.end(desk, status: 0)
        s.reap()
        s.reconcile()
        s.startDue()
        #expect(children.started.last?.0 == .follow("me@desk:2222", ["ssh://me@desk:2222/\(a.id)"]))
    }
}
