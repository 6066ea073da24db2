import Foundation
import Testing
import SyncTestSupport

/// Randomized runs of nodes under `sync up` with faults: random writes, deletions, renames and
/// `mkdir -p` chains on random nodes, while daemons are killed with SIGKILL and started again,
/// single children are killed, and nodes go offline and come back. At the end: every tree the
/// same, the last write of every path at its path or in a conflict copy of it (unless a later
/// deletion or rename took it), every content a node wrote and left alone for 3 s or more (or
/// until the end) in that node's history, no temporaries, `git fsck` clean on every node and no
/// crash in any log.
///
/// SYNC_TEST_SEED, SYNC_TEST_NODES and SYNC_TEST_OPS run it longer or on other seeds (Tests/chaos
/// runs many); seeds that ever failed are kept in `Self.regressions`. It is one of LiveTests, which
/// run one at a time: two runs of live nodes at once would each slow the other past its waits.
extension LiveTests {
    /// Seeds of failures found (at 5 nodes and 1,000 operations: 4 and 5, a stale history lock;
    /// 9 and 10, see the notes of issue 13; 45, history fetches over two links of one node, each
    /// blind to the other's packs, and a fetch cut short trusted; 46, once, a content left alone
    /// missing from its node's history, not seen again in a rerun), run at the short size on every test run.
    static let regressions: [UInt64] = [4, 5, 9, 10, 45, 46]

    @Test func aShortRandomRunWithFaultsLosesNothing() throws {
        let env = ProcessInfo.processInfo.environment
        let seeds = env["SYNC_TEST_SEED"].flatMap { UInt64($0) }.map { [$0] } ?? ([20_261_130] + Self.regressions)
        for seed in seeds {
            try run(seed: seed, nodes: env["SYNC_TEST_NODES"].flatMap { Int($0) } ?? 3, ops: env["SYNC_TEST_OPS"].flatMap { Int($0) } ?? 120)
        }
    }

    /// The last operation on a path, in the order the run made them.
    enum Last { case wrote(node: Int, content: String), gone }

    func run(seed: UInt64, nodes count: Int, ops: Int) throws {
        let (n, id, p) = try nodes(count)
        defer { for x in n { x.crash() } }
        for x in n {
            x.node.extraEnvironment["SYNC_KEEPALIVE"] = "1s"
            try x.up()
        }
        #expect(waitFor(90) { n.allSatisfy { x in (try? x.node.run("sync-peer", ["list"]).lines.allSatisfy { $0.hasSuffix(" up") }) == true } }, "links not up")
        var rng = SplitMix(seed)
        func pick(_ k: Int) -> Int { Int(rng.next() % UInt64(k)) }
        var last: [String: Last] = [:]
        var faults: [String] = []
        // What each node wrote and when, by node and path, until its next operation on that path;
        // contents left alone for `settled` seconds must be in that node's history.
        let settled = 3.0
        var written: [Int: [String: (content: String, at: Date)]] = [:]
        var mustKeep: [(node: Int, path: String, content: String, from: Date, to: Date)] = []
        // When a node's recording stopped (its daemon or its watch or commit killed, or it went
        // offline): it is back once its daemon logs the pipeline's next start.
        var stopped: [Int: [Date]] = [:]
        func touched(_ j: Int, _ path: String) {
            if let w = written[j]?.removeValue(forKey: path), Date().timeIntervalSince(w.at) >= settled {
                mustKeep.append((j, path, w.content, w.at, Date()))
            }
        }
        func wrote(_ j: Int, _ path: String, _ content: String) {
            touched(j, path)
            written[j, default: [:]][path] = (content, Date())
        }
        for i in 0..<ops {
            let j = pick(count), root = p[j]
            let file = "f\(pick(12)).txt"
            switch pick(100) {
            case 0..<55:
                let content = "node \(j) op \(i) \(rng.next())\n"
                try content.write(toFile: root + "/" + file, atomically: pick(2) == 0, encoding: .utf8)
                last[file] = .wrote(node: j, content: content)
                wrote(j, file, content)
            case 55..<65:
                if (try? FileManager.default.removeItem(atPath: root + "/" + file)) != nil { last[file] = .gone; touched(j, file) }
            case 65..<72:
                let to = "f\(pick(12)).txt"
                guard to != file, let content = try? String(contentsOfFile: root + "/" + file, encoding: .utf8) else { continue }
                if rename(root + "/" + file, root + "/" + to) == 0 {
                    last[file] = .gone
                    last[to] = .wrote(node: j, content: content)
                    touched(j, file)
                    touched(j, to)
                }
            case 72..<78:
                let dir = "d\(pick(4))/a/b"
                let content = "deep \(j) op \(i)\n"
                try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
                try content.write(toFile: root + "/" + dir + "/x.txt", atomically: false, encoding: .utf8)
                last[dir + "/x.txt"] = .wrote(node: j, content: content)
                wrote(j, dir + "/x.txt", content)
            case 78..<81:
                faults.append("op \(i): node \(j) killed")
                stopped[j, default: []].append(Date())
                n[j].crash()
                usleep(UInt32(pick(1_500_000)))
                try n[j].up()
            case 81..<84:
                let victims = PeerNode.descendants(of: n[j].daemon ?? -1).filter { pid in
                    let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                    return cmd.hasPrefix("sync-watch\0") || cmd.hasPrefix("sync-pull\0") || cmd.hasPrefix("sync-commit\0")
                }
                if let v = victims.randomElement(using: &rng) {
                    let cmd = (try? String(contentsOfFile: "/proc/\(v)/cmdline", encoding: .utf8)) ?? ""
                    kill(v, SIGKILL)
                    faults.append("op \(i): a child of node \(j) killed")
                    if !cmd.hasPrefix("sync-pull\0") { stopped[j, default: []].append(Date()) }
                }
            case 84..<86:
                faults.append("op \(i): node \(j) offline")
                stopped[j, default: []].append(Date())
                n[j].down()
                usleep(UInt32(500_000 + pick(2_000_000)))
                try n[j].up()
            default:
                usleep(UInt32(pick(300_000)))
            }
            usleep(UInt32(20_000 + pick(60_000)))
        }
        let what = "seed \(seed), \(count) nodes, \(ops) operations, faults: \(faults)"
        // With SYNC_TEST_KEEP=DIR, a failing run's nodes (folders, state, logs) are copied there.
        var kept = false
        func keep() {
            guard !kept, let dir = ProcessInfo.processInfo.environment["SYNC_TEST_KEEP"] else { return }
            kept = true
            for (i, x) in n.enumerated() { _ = try? x.node.sh("mkdir -p '\(dir)/chaos-\(seed)' && cp -a '\(x.node.base)' '\(dir)/chaos-\(seed)/\(i)'") }
        }
        for (j, paths) in written { for (path, w) in paths { mustKeep.append((j, path, w.content, w.at, Date())) } }
        let converged = try waitFor(180) {
            let all = try p.map { try contents($0) }
            return all.allSatisfy { $0 == all[0] } && !all[0].contains(".sync-tmp")
        }
        let trees = try p.map { try contents($0) }
        if !converged {
            // Which nodes differ from the most common tree, and what their daemons said last.
            let common = Dictionary(grouping: trees, by: { $0 }).max { $0.value.count < $1.value.count }!.key
            let odd = trees.indices.filter { trees[$0] != common }
            // What differs, line by line of the listing (kind, path, link target, content hash).
            let commonLines = Set(common.split(separator: "\n"))
            let logs = odd.map { i -> String in
                let mine = Set(trees[i].split(separator: "\n"))
                let diff = mine.subtracting(commonLines).sorted().prefix(10).map { "  + \($0)" }
                    + commonLines.subtracting(mine).sorted().prefix(10).map { "  - \($0)" }
                return "node \(i) differs:\n\(diff.joined(separator: "\n"))\n" + n[i].log.split(separator: "\n").suffix(40).joined(separator: "\n")
            }
            keep()
            Issue.record("\(what): not converged: nodes \(odd) differ from the rest\n\(logs.joined(separator: "\n"))")
            return
        }
        // The last write of each path is there, at the path or in a conflict copy of it.
        let names = try FileManager.default.subpathsOfDirectory(atPath: p[0])
        for (path, op) in last {
            guard case .wrote(let node, let content) = op else { continue }
            let stem = (path as NSString).deletingPathExtension
            let places = names.filter { $0 == path || ($0.hasPrefix(stem + ".sync-conflict-")) }
            let found = places.contains { (try? String(contentsOfFile: p[0] + "/" + $0, encoding: .utf8)) == content }
            #expect(found, "\(what): the last write of \(path) (node \(node)) is lost; there: \(places)")
            if !found { keep() }
        }
        // Every content a node wrote and left alone while it was recording is in its history (as a
        // blob of any commit): left alone for `settled` seconds, of which 2 with its pipeline up.
        let stamp = DateFormatter()
        stamp.locale = Locale(identifier: "en_US_POSIX")
        stamp.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        var down: [Int: [(Date, Date)]] = [:]
        for (j, times) in stopped {
            let starts = n[j].log.split(separator: "\n").filter { $0.contains(": started (pid") && $0.contains("pipeline ") }
                .compactMap { stamp.date(from: String($0.prefix(24))) }.map { $0.addingTimeInterval(1) }
            down[j] = times.map { t in (t, starts.first { $0 >= t.addingTimeInterval(-1) && $0 > t } ?? .distantFuture) }
        }
        func recorded(_ j: Int, from: Date, to: Date) -> Bool {
            var at = from
            for (a, b) in (down[j] ?? []).sorted(by: { $0.0 < $1.0 }) where b > from && a < to {
                if a.timeIntervalSince(at) >= 2 { return true }
                at = max(at, b)
            }
            return to.timeIntervalSince(at) >= 2
        }
        let checked = mustKeep.filter { recorded($0.node, from: $0.from, to: $0.to) }
        print("seed \(seed): \(checked.count) of \(mustKeep.count) contents left alone were left alone while their node recorded; each must be in its history")
        for (node, kept) in Dictionary(grouping: checked, by: \.node) {
            let probes = n[node].node.base + "/probes"
            try? FileManager.default.removeItem(atPath: probes)
            try FileManager.default.createDirectory(atPath: probes, withIntermediateDirectories: true)
            for (k, w) in kept.enumerated() { try w.content.write(toFile: probes + "/\(k)", atomically: false, encoding: .utf8) }
            let found = try n[node].node.sh("cd '\(probes)' && ls | sort -n | git hash-object --stdin-paths"
                + " | git --git-dir='\(n[node].node.historyDirectory(id))' cat-file --batch-check").stdout.split(separator: "\n")
            for (k, w) in kept.enumerated() where k >= found.count || found[k].hasSuffix(" missing") {
                keep()
                Issue.record("\(what): node \(node) wrote \(w.path) (\(w.content.debugDescription)) and left it alone, but its history lacks it")
            }
        }
        for (i, x) in n.enumerated() {
            let fsck = try x.node.git(id, "fsck --no-progress")
            if fsck.status != 0 { keep() }
            #expect(fsck.status == 0, "\(what): node \(i): git fsck: \(fsck.stdout.prefix(1500)) \(fsck.stderr.prefix(1500))")
            let log = x.log
            for crash in ["Fatal error", "Swift runtime failure", "Segmentation fault", "stack trace"] {
                #expect(!log.contains(crash), "\(what): node \(i): \(crash) in its log")
            }
        }
    }
}
