import Foundation
import Testing
@testable import SyncCommands

@Suite(.serialized) struct PipelineTests {
    @Test func watchThenCommitRecordsChangesAsTheyHappen() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        try node.write(a + "/before", "b")
        let out = node.base + "/pipeline.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec sync-watch \(aid) | sync-commit \(aid) > '\(out)'"]
        p.environment = node.environment
        try p.run()
        defer { p.terminate(); _ = try? node.sh("pkill -f 'sync-watch \(aid)'") }
        func lines() -> [String] {
            (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        }
        func waitFor(_ count: Int) -> Bool {
            for _ in 0..<200 where lines().count < count { usleep(50_000) }
            return lines().count >= count
        }
        #expect(waitFor(1), "the starting rescan commits what was there")
        try node.write(a + "/new dir/inside\nnewline", "n")
        #expect(waitFor(2))
        try node.write(a + "/new dir/deeper/x", "x")
        #expect(waitFor(3))
        let show = try node.run("sync-show", ["--folder", aid, "HEAD:new dir/deeper/x"])
        #expect(show.stdout == "x", "\(show)")
        for l in lines() { #expect(l.hasPrefix(aid + " "), "\(l)") }
    }

    @Test func watchPrintsOneEscapedLinePerChange() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        let out = node.base + "/watch.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binDirectory + "/sync-watch")
        p.arguments = [aid]
        p.environment = node.environment
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try p.run()
        defer { p.terminate() }
        func text() -> String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        for _ in 0..<100 where !text().contains("rescan") { usleep(50_000) }
        #expect(text().hasPrefix("rescan\n"))
        try FileManager.default.createDirectory(atPath: a + "/sub", withIntermediateDirectories: true)
        usleep(200_000)
        try node.write(a + "/sub/tab\there", "t")
        // A `writing` line may come first (the write, then the close, each an event).
        for _ in 0..<100 where !text().contains("change \"sub/tab") { usleep(50_000) }
        #expect(text().contains("change \"sub/tab\\there\"\n"), "\(text())")
        #expect(!text().contains("\t"))
    }
}
