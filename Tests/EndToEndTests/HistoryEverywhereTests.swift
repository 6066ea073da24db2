import Foundation
import Testing

/// Every node's authored history reaches every other node, over real sshd, relayed by nodes in
/// between: `sync versions` lists every version made anywhere, and each comes back.
@Suite(.serialized, .enabled(if: PeerNode.available)) struct HistoryEverywhereTests {
    /// A, B and C in a chain (A and C never meet): C is away while A saves a file ten times and B
    /// pulls once; back, C pulls B and lists all ten versions, made on A, each one readable.
    @Test func versionsMadeOnANodeReachANodeThatNeverMeetsIt() throws {
        let a = try PeerNode(), b = try PeerNode(), c = try PeerNode()
        let (pa, id) = try a.node.folder("f")
        _ = try b.join("f", id: id)
        let pc = try c.join("f", id: id)
        for (x, y) in [(a, b), (b, a), (b, c), (c, b)] { try x.allow(y, id) }
        let aID = try a.node.run("sync-keys", ["id"]).lines[0]
        func text(_ i: Int) -> String { String(repeating: "version \(i)\n", count: i) }
        for i in 1...10 {
            try a.node.write(pa + "/notes.txt", text(i))
            #expect(try a.commit(pa).status == 0)
        }
        // B was away too: one pull brings the last version into its folder and all ten into its history.
        let pulled = try b.pull(a, id, ["--no-offer"])
        #expect(pulled.status == 0 && !pulled.stderr.contains("history"), "\(pulled)")
        #expect(try c.pull(b, id, ["--no-offer"]).status == 0)
        #expect(try String(contentsOfFile: pc + "/notes.txt", encoding: .utf8) == text(10))

        let listed = try c.node.run("sync-versions", ["--json", pc + "/notes.txt"])
        #expect(listed.status == 0, "\(listed)")
        let versions = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(versions.count == 10, "\(listed.stdout)")
        guard versions.count == 10 else { return }
        #expect(versions.allSatisfy { ($0["madeOn"] as? [String]) == [aID] && ($0["recoverable"] as? Bool) == true }, "\(listed.stdout)")
        // Newest first: sizes fall, and each version reads back as A saved it.
        for (n, v) in versions.enumerated() {
            let i = 10 - n
            #expect((v["size"] as? Int) == text(i).utf8.count)
            let shown = try c.node.run("sync-show", ["--folder", id, "\(v["commit"] as? String ?? ""):notes.txt"])
            #expect(shown.status == 0 && shown.stdout == text(i), "version \(i): \(shown)")
        }
        // An old version made on A comes back on C as a change of C's own.
        let third = versions[7]["commit"] as? String ?? ""
        let restored = try c.node.run("sync-restore", ["--at", third, pc + "/notes.txt"])
        #expect(restored.status == 0, "\(restored)")
        #expect(try String(contentsOfFile: pc + "/notes.txt", encoding: .utf8) == text(3))
        // The plain lines say where each was made.
        let lines = try c.node.run("sync-versions", [pc + "/notes.txt"]).lines
        #expect(lines.count == 11 && lines.dropFirst().allSatisfy { $0.hasSuffix("\thistory (made on \(aID.prefix(8)))") }, "\(lines)")
        // And A's history as C keeps it is whole to plain git.
        let fsck = try c.node.git(id, "fsck --no-dangling")
        #expect(fsck.status == 0, "\(fsck)")
        let refs = try c.node.git(id, "for-each-ref --format=%\\(refname\\)")
        #expect(refs.stdout.contains("refs/peers/\(aID)/authored"), "\(refs)")
    }
}

extension HistoryEverywhereTests {
    /// A's history is deleted, reset back, and corrupted in turn: each time A goes on committing
    /// and B on pulling, `sync history repair` brings A's versions back from B, and git fsck is clean.
    @Test func aNodeWhoseHistoryIsLostRewrittenOrCorruptSyncsOnAndRepairsIt() throws {
        let a = try PeerNode(), b = try PeerNode()
        let (pa, id) = try a.node.folder("f")
        let pb = try b.join("f", id: id)
        try a.allow(b, id)
        try b.allow(a, id)
        let history = a.node.historyDirectory(id)
        var saved = 0
        func save() throws {
            saved += 1
            try a.node.write(pa + "/notes.txt", String(repeating: "save \(saved)\n", count: saved))
            let r = try a.commit(pa)
            #expect(r.status == 0, "save \(saved): \(r)")
        }
        func syncsAndRepairs(_ what: String) throws {
            try save()
            let pulled = try b.pull(a, id, ["--no-offer"])
            #expect(pulled.status == 0, "\(what): \(pulled)")
            #expect(try String(contentsOfFile: pb + "/notes.txt", encoding: .utf8) == String(repeating: "save \(saved)\n", count: saved), "\(what)")
            let repaired = try a.node.run("sync-history", ["repair", id, b.remote(id)])
            #expect(repaired.status == 0 && repaired.lines.last?.contains("are kept as refs/peers/") == true, "\(what): \(repaired)")
            // Every save made on A, once each, each readable.
            let listed = try a.node.run("sync-versions", ["--json", pa + "/notes.txt"])
            let versions = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(versions.compactMap { $0["size"] as? Int } == (1...saved).reversed().map { 7 * $0 + ($0 >= 10 ? $0 : 0) },
                    "\(what): \(listed.stdout)")
            #expect(versions.allSatisfy { ($0["recoverable"] as? Bool) == true && ($0["madeOn"] as? [String]) == [] }, "\(what): \(listed.stdout)")
            let fsck = try a.node.git(id, "fsck --no-dangling")
            #expect(fsck.status == 0, "\(what): \(fsck)")
        }
        for _ in 1...3 { try save() }
        #expect(try b.pull(a, id, ["--no-offer"]).status == 0)

        // Deleted (the daemon is not running): the next commit starts a new history, and says so.
        try a.node.sh("rm -rf '\(history)'")
        try syncsAndRepairs("history.git deleted")
        #expect(FileManager.default.fileExists(atPath: history + "/HEAD"))

        // Two more saves, which B pulls; then main reset two commits back, as git reset or a
        // rebase that drops commits leaves it.
        try save()
        try save()
        #expect(try b.pull(a, id, ["--no-offer"]).status == 0)
        let reset = try a.node.git(id, "update-ref refs/heads/main main~2")
        #expect(reset.status == 0, "\(reset)")
        try syncsAndRepairs("main reset back")

        // The last commit's tree corrupt on disk.
        let tree = try a.node.git(id, "rev-parse 'main^{tree}'").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let object = history + "/objects/" + tree.prefix(2) + "/" + tree.dropFirst(2)
        try a.node.sh("chmod u+w '\(object)' && printf garbage > '\(object)'")
        try syncsAndRepairs("a corrupt tree")
    }
}
