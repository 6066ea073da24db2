import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

/// sync-commit's follow mode records a lone change at once and waits for quiet only in a burst
/// or while a file is still being written. The quiet period is set long (3 s) so that the two
/// cases lie far apart: the checks are on behaviour, not on speed.
@Suite struct CommitLoopTests {
    final class Commits: @unchecked Sendable {
        let lock = NSLock()
        var paths: [[String]] = []
        func add(_ r: CommitResult) { lock.lock(); paths.append(r.changes.map(\.path).sorted()); lock.unlock() }
        var all: [[String]] { lock.lock(); defer { lock.unlock() }; return paths }
        /// Waits up to `seconds` for a commit that holds `path`; the seconds it took, or nil.
        func wait(for path: String, seconds: Double) -> Double? {
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                if all.contains(where: { $0.contains(path) }) { return Date().timeIntervalSince(start) }
                usleep(5_000)
            }
            return nil
        }
    }

    @Test func aLoneChangeIsRecordedAtOnceABurstAfterQuiet() throws {
        let f = try Fixture()
        _ = try f.commit()
        var folder = f.context.folder
        try folder.config.set("debounce.quiet", "3s")
        try folder.config.set("debounce.max", "10s")
        try folder.saveConfig()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let commits = Commits()
        var loop = CommitLoop(folder: f.context.folder.id, state: f.state)
        loop.onCommit = { commits.add($0) }
        let ended = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { let l: CommitLoop; init(_ l: CommitLoop) { self.l = l } }
        let box = Box(loop)
        let input = fds[0]
        Thread { _ = try? box.l.run(input: input); ended.signal() }.start()
        func send(_ e: WatchEvent) { let l = Array((e.line + "\n").utf8); _ = write(fds[1], l, l.count) }

        // Lone: the first change after a quiet spell, its file closed.
        try f.write("lone.txt", "a")
        send(.change(try RelativePath("lone.txt")))
        let lone = commits.wait(for: "lone.txt", seconds: 2.5)
        #expect(lone != nil, "a lone change waited for the quiet period: \(commits.all)")

        // Right after it, a burst: it waits for 3 s of quiet, so not there after 1.5 s.
        try f.write("burst1.txt", "b")
        send(.change(try RelativePath("burst1.txt")))
        #expect(commits.wait(for: "burst1.txt", seconds: 1.5) == nil, "a burst was committed before its quiet period")
        #expect(commits.wait(for: "burst1.txt", seconds: 6) != nil)

        // After quiet again, a file that is still being written waits too.
        Thread.sleep(forTimeInterval: 3.2)
        try f.write("open.log", "c")
        send(.writing(try RelativePath("open.log")))
        #expect(commits.wait(for: "open.log", seconds: 1.5) == nil, "a file still open was committed as a lone change")
        #expect(commits.wait(for: "open.log", seconds: 6) != nil)

        close(fds[1])
        #expect(ended.wait(timeout: .now() + 30) == .success)
        close(fds[0])
    }
}
