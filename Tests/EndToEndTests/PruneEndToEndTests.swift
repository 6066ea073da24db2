import Foundation
import Testing
import SyncTestSupport

@Suite(.serialized) struct PruneEndToEndTests {
    /// Gives the folder's history `count` commits, an hour apart and ending now, each rewriting one
    /// of 50 text files, through plain git (fast-import): history made by another tool than ours.
    static func fabricate(_ node: Node, _ id: String, count: Int) throws {
        var stream = ""
        let start = Int(Date().timeIntervalSince1970) - count * 3600
        func data(_ s: String) -> String { "data \(s.utf8.count)\n\(s)\n" }
        for i in 1...count {
            let body = (0..<60).map { "commit \(i) line \($0) \(i &* 2_654_435_761 % 9973)\n" }.joined()
            stream += "commit refs/heads/main\nmark :\(i)\ncommitter n <n@sync> \(start + i * 3600) +0000\n"
            stream += data("sync: 1 change\n\nM f\(i % 50).txt\n\nSync-Sequence: \(i)\n")
            if i > 1 { stream += "from :\(i - 1)\n" }
            stream += "M 100644 inline f\(i % 50).txt\n" + data(body)
        }
        let file = node.base + "/import"
        try stream.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try node.git(id, "fast-import --quiet < '\(file)'")
        #expect(r.status == 0, "\(r)")
    }

    func trees(_ node: Node, _ id: String) throws -> [String] {
        try node.git(id, "log --format=%T main").lines
    }

    func fsck(_ node: Node, _ id: String) throws {
        let r = try node.git(id, "fsck --full --no-progress")
        #expect(r.status == 0 && !r.stdout.contains("missing") && !r.stderr.contains("error"), "git fsck: \(r)")
    }

    @Test func aPruneKilledAtAnyPointLosesNoVersionThatShouldStay() throws {
        guard have("git") else { Issue.record("git is needed"); return }
        let node = try Node()
        let (_, id) = try node.folder("f")
        try Self.fabricate(node, id, count: 1000)
        var current = try trees(node, id)
        #expect(current.count == 1000)

        // How long one whole prune takes here (rewriting and repacking all of it).
        let t0 = Date()
        let first = try node.run("sync-prune", ["--keep-last", "995", id])
        #expect(first.status == 0, "\(first)")
        let whole = Date().timeIntervalSince(t0)
        #expect(try trees(node, id) == Array(current.prefix(995)))
        current = Array(current.prefix(995))
        let oldest = try node.run("sync-log", [id]).lines.last ?? ""
        #expect(oldest.hasSuffix("(and 5 pruned before it)"), "\(oldest)")

        var rng = SplitMix(42)
        var interrupted = 0
        for run in 0..<20 {
            let keep = max(10, current.count - Int(rng.next() % 60) - 5)
            let delay = whole * Double(rng.next() % 1000) / 1000
            if try node.killed("sync-prune", ["--keep-last", String(keep), id], after: delay) { interrupted += 1 }
            let after = try trees(node, id)
            // Either the history as it was, or exactly the versions the rule keeps: never less.
            #expect(after == current || after == Array(current.prefix(keep)),
                    "run \(run): kill after \(delay) s: \(after.count) versions, was \(current.count), keep \(keep)")
            #expect(Set(current.prefix(keep)).isSubset(of: Set(after)), "run \(run): a version that should stay is gone")
            try fsck(node, id)
            // The newest version reads back whole.
            let show = try node.git(id, "cat-file -p main:f\((1000) % 50).txt")
            #expect(show.status == 0 && show.stdout.hasPrefix("commit 1000 line 0"), "run \(run): \(show)")
            current = after
        }
        #expect(interrupted >= 5, "the kills should land while the prune runs (\(interrupted) of 20 did; a whole prune took \(whole) s)")

        // A prune that finishes leaves one pack and nothing loose or half-written.
        let last = try node.run("sync-prune", ["--keep-last", "100", id])
        #expect(last.status == 0, "\(last)")
        #expect(try trees(node, id) == Array(current.prefix(100)))
        try fsck(node, id)
        let counts = try node.git(id, "count-objects -v").stdout
        let files = try node.sh("find '\(node.historyDirectory(id))/objects'").stdout
        #expect(counts.contains("count: 0\n") && counts.contains("packs: 1\n") && counts.contains("garbage: 0\n"), "\(counts)\n\(files)")
        let leftovers = try node.sh("find '\(node.historyDirectory(id))' -name 'tmp_*' -o -name '*.lock'").stdout
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }
}
