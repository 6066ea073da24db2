import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine

/// The watcher misses nothing made in a directory that just appeared: each directory is watched
/// before it is listed, and what the listing finds is reported.
@Suite struct WatcherTests {
    final class Seen: @unchecked Sendable {
        let lock = NSLock()
        var paths = Set<String>()
        var done = false
        func add(_ events: [WatchEvent]) -> Bool {
            lock.lock(); defer { lock.unlock() }
            for e in events { if let p = e.path { paths.insert(p.rawValue) } }
            return !paths.contains("stop")
        }
        func has(_ p: String) -> Bool { lock.lock(); defer { lock.unlock() }; return paths.contains(p) }
    }

    /// Runs a watcher of the fixture's folder on a thread of its own, handing what it reports after
    /// its first rescan to `add` until that returns false; returns once it watches, with the
    /// semaphore its end signals.
    static func watch(_ f: Fixture, _ add: @escaping @Sendable ([WatchEvent]) -> Bool) throws -> DispatchSemaphore {
        final class Box: @unchecked Sendable { let w: Watcher; init(_ w: Watcher) { self.w = w } }
        let box = Box(try Watcher(scanner: f.context.scanner()))
        let started = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        Thread {
            _ = try? box.w.run { events in
                if events == [.rescan] { started.signal(); return true }
                return add(events)
            }
            ended.signal()
        }.start()
        started.wait()
        return ended
    }

    @Test func chainsMadeInAMillisecondAreReportedToTheirLastFile() throws {
        let f = try Fixture()
        let seen = Seen()
        let ended = try Self.watch(f) { seen.add($0) }
        // As mkdir -p and an unpacked archive do: a chain of directories and a file at its end, at once.
        for i in 0..<150 {
            let dir = f.root + "/d\(i)/a/b/c"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: dir + "/file", contents: Data("x".utf8)))
        }
        // A tree moved in whole, made elsewhere.
        let outside = f.base + "/outside/m/n"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: outside + "/moved", contents: Data("y".utf8)))
        try FileManager.default.moveItem(atPath: f.base + "/outside/m", toPath: f.root + "/m")
        #expect(FileManager.default.createFile(atPath: f.root + "/stop", contents: nil))
        #expect(ended.wait(timeout: .now() + 30) == .success)
        let missed = (0..<150).map { "d\($0)/a/b/c/file" }.filter { !seen.has($0) }
        #expect(missed.isEmpty, "not reported: \(missed.prefix(10)) (\(missed.count) in all)")
        #expect(seen.has("m/n/moved"))
    }

    /// A file written and left open is `writing`; its close makes it a `change`: the commit loop
    /// takes a lone change at once only when no file of it is still open.
    @Test func aFileLeftOpenIsWritingUntilItIsClosed() throws {
        let f = try Fixture()
        final class Log: @unchecked Sendable {
            let lock = NSLock()
            var events: [WatchEvent] = []
            func add(_ e: [WatchEvent]) -> Bool {
                lock.lock(); defer { lock.unlock() }
                events += e
                return !e.contains(.change(try! RelativePath("stop")))
            }
            var all: [WatchEvent] { lock.lock(); defer { lock.unlock() }; return events }
        }
        let log = Log()
        let ended = try Self.watch(f) { log.add($0) }
        let p = try RelativePath("open.log")
        let fd = open(f.root + "/open.log", O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        _ = write(fd, "first line\n", 11)
        let deadline = Date().addingTimeInterval(10)
        while log.all.last(where: { $0.path == p }) != .writing(p) && Date() < deadline { usleep(10_000) }
        #expect(log.all.last(where: { $0.path == p }) == .writing(p), "\(log.all)")
        close(fd)
        #expect(FileManager.default.createFile(atPath: f.root + "/stop", contents: nil))
        #expect(ended.wait(timeout: .now() + 30) == .success)
        #expect(log.all.last(where: { $0.path == p }) == .change(p), "\(log.all)")
        #expect(WatchEvent(line: Substring(WatchEvent.writing(p).line)) == .writing(p))
    }
}
