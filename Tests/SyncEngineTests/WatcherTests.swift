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
            for case .change(let p) in events { paths.insert(p.rawValue) }
            return !paths.contains("stop")
        }
        func has(_ p: String) -> Bool { lock.lock(); defer { lock.unlock() }; return paths.contains(p) }
    }

    @Test func chainsMadeInAMillisecondAreReportedToTheirLastFile() throws {
        let f = try Fixture()
        let watcher = try Watcher(scanner: f.context.scanner())
        let seen = Seen()
        let started = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { let w: Watcher; init(_ w: Watcher) { self.w = w } }
        let box = Box(watcher)
        Thread {
            _ = try? box.w.run { events in
                if events == [.rescan] { started.signal(); return true }
                return seen.add(events)
            }
            ended.signal()
        }.start()
        started.wait()
        // As mkdir -p and an unpacked archive do: a chain of directories and a file at its end, at once.
        for i in 0..<150 {
            let dir = f.root + "/d\(i)/a/b/c"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/file", contents: Data("x".utf8))
        }
        // A tree moved in whole, made elsewhere.
        let outside = f.base + "/outside/m/n"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: outside + "/moved", contents: Data("y".utf8))
        try FileManager.default.moveItem(atPath: f.base + "/outside/m", toPath: f.root + "/m")
        FileManager.default.createFile(atPath: f.root + "/stop", contents: nil)
        #expect(ended.wait(timeout: .now() + 30) == .success)
        let missed = (0..<150).map { "d\($0)/a/b/c/file" }.filter { !seen.has($0) }
        #expect(missed.isEmpty, "not reported: \(missed.prefix(10)) (\(missed.count) in all)")
        #expect(seen.has("m/n/moved"))
    }
}
