import Foundation
import Testing
import SyncTestSupport

/// Nodes under `sync up`: changes flow by themselves.
@Suite(.serialized, .enabled(if: PeerNode.available)) struct LiveTests {
    /// `count` nodes sharing one folder; `linked(i, j)` says whether i and j know each other
    /// (allowed both ways, and each a peer of the other).
    func nodes(_ count: Int, linked: (Int, Int) -> Bool = { _, _ in true }) throws -> (nodes: [PeerNode], id: String, paths: [String]) {
        let first = try PeerNode()
        let (p0, id) = try first.node.folder("shared")
        var nodes = [first], paths = [p0]
        for _ in 1..<count {
            let n = try PeerNode()
            paths.append(try n.join("shared", id: id))
            nodes.append(n)
        }
        for i in 0..<count { for j in 0..<count where i != j && linked(i, j) {
            try nodes[i].allow(nodes[j], id)
            try nodes[i].addPeer(nodes[j], id)
        } }
        return (nodes, id, paths)
    }

    @Test func statusSaysWhoLacksWhatAndForHowLongAPeerIsAway() throws {
        let (n, id, p) = try nodes(2)
        defer { for x in n { x.down() } }
        #expect(try n[0].node.run("sync-keys", ["name", "alice"]).status == 0)
        #expect(try n[1].node.run("sync-keys", ["name", "bob"]).status == 0)
        // Bob takes nothing while paused: alice's changes wait on her side.
        #expect(try n[1].node.run("sync-config", [id, "paused", "true"]).status == 0)
        for x in n { try x.up() }
        try n[0].node.sh("cd '\(p[0])' && printf 12345678 > a && printf 1234 > b")
        var a = Outcome(status: 0, stdout: "", stderr: ""), b = a
        let told = waitFor(20) {
            a = (try? n[0].node.run("sync-status", [id])) ?? a
            b = (try? n[1].node.run("sync-status", [id])) ?? b
            // All of it in one status: one taken while alice's commit lands can count the files
            // as pending and the peer as lacking them both (its reads are not one snapshot).
            return a.stdout.contains("it lacks 2 changes of ours (12 B)") && b.stdout.contains("behind by ")
                && a.stdout.hasPrefix("folder \(id) (shared): behind\n")
        }
        #expect(told, "alice:\n\(a)\nbob:\n\(b)")
        #expect(a.stdout.hasPrefix("folder \(id) (shared): behind\n"), "\(a)")
        #expect(b.stdout.hasPrefix("folder \(id) (shared): paused\n"), "\(b)")
        #expect(a.lines.contains { $0.hasPrefix("  peer:        bob (") && $0.contains(" up since ") }, "\(a)")
        // Resumed: both say in sync.
        #expect(try n[1].node.run("sync-config", [id, "paused", "false"]).status == 0)
        let synced = waitFor(30) {
            a = (try? n[0].node.run("sync-status", [id])) ?? a
            b = (try? n[1].node.run("sync-status", [id])) ?? b
            return a.stdout.hasPrefix("folder \(id) (shared): in sync") && b.stdout.hasPrefix("folder \(id) (shared): in sync")
        }
        #expect(synced, "alice:\n\(a)\nbob:\n\(b)")
        // Bob goes away (his machine stops, sshd too): alice says since when, for how long, and
        // that she is offline.
        n[1].crash()
        n[1].stop()
        let away = waitFor(20) {
            a = (try? n[0].node.run("sync-status", [id])) ?? a
            return a.stdout.contains("(away ") && a.stdout.hasPrefix("folder \(id) (shared): offline")
        }
        #expect(away, "\(a)")
    }

    @Test func stoppingDuringABigTransferIsPromptAndTheTransferResumes() throws {
        let (n, _, p) = try nodes(2)
        defer { for x in n { x.down() } }
        for x in n { try x.up() }
        // 8 GiB (sparse on both sides; every byte of it crosses the link): many seconds on loopback.
        #expect(try n[0].node.sh("truncate -s 8G '\(p[0])/big'").status == 0)
        func partial() -> Int64 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: p[1])) ?? []
            return names.filter { $0.hasPrefix(".sync-tmp-") }.compactMap {
                (try? FileManager.default.attributesOfItem(atPath: p[1] + "/" + $0))?[.size] as? Int64
            }.max() ?? 0
        }
        // A hashes and records the 8 GiB first: on a 2-core machine that runs other suites beside
        // this one, that alone took a minute (a wait that ends as soon as the transfer is seen).
        #expect(waitFor(180) { partial() > 32 << 20 }, "no transfer under way\nA: \(n[0].log)\nB: \(n[1].log)")
        // What a person watching sees, read off a terminal: the receiving side counts down, the
        // sending side shows what it sends.
        if have("tmux") {
            let socket = "sync-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            // tmux's server keeps no pipe of ours open: its output goes to /dev/null.
            defer { _ = try? n[0].node.sh("tmux -L \(socket) kill-server >/dev/null 2>&1 </dev/null") }
            for (i, x) in n.enumerated() {
                // tmux's server must hold no descriptor of ours (Foundation's Process waits for the
                // last holder of one to end): bash closes every one above 2 first.
                let command = """
                    for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
                    exec tmux -L \(socket) new-session -d -s n\(i) -x 150 -y 40 \
                      "env SYNC_DIR='\(x.node.stateDir)' PATH='\(binDirectory):$PATH' sync status --watch --interval 500ms" \
                      >/dev/null 2>&1 </dev/null
                    """
                let started = try Node.execute("/bin/bash", ["-c", command], environment: x.node.environment, stdin: nil, timeout: 30)
                #expect(started.status == 0, "\(started)")
            }
            var screens = ["", ""]
            let seen = waitFor(20) {
                for i in 0..<2 { screens[i] = (try? n[0].node.sh("tmux -L \(socket) capture-pane -p -t n\(i) 2>&1 </dev/null").stdout) ?? "" }
                return screens[1].contains("): syncing") && screens[1].contains("transfer:  receiving ")
                    && screens[1].contains(" of 8.0 GiB at ") && screens[1].contains(" left")
                    && screens[0].contains("transfer:  sending ")
            }
            #expect(seen, "receiving side:\n\(screens[1])\nsending side:\n\(screens[0])")
            #expect(screens[1].hasPrefix("sync status at "), "\(screens[1])")
        }
        let asked = Date()
        n[1].down()
        let took = Date().timeIntervalSince(asked)
        let kept = partial()
        #expect(took < 5, "sync up took \(took) s to stop during a transfer\n\(n[1].log)")
        #expect(kept > 32 << 20 && kept < 8 << 30, "the cut transfer left \(kept) bytes to resume from")
        #expect(!n[1].log.contains("killed"), "\(n[1].log)")
        // Started again, the transfer resumes where it stopped and the file arrives whole.
        try n[1].up()
        #expect(waitFor(300) { ((try? FileManager.default.attributesOfItem(atPath: p[1] + "/big"))?[.size] as? Int64) == 8 << 30 },
                "B: \(n[1].log)")
        #expect(partial() == 0)
    }

    @Test func aFileSavedOnOneNodeAppearsOnTheOtherBothWays() throws {
        let (n, id, p) = try nodes(2)
        defer { for x in n { x.down() } }
        #expect(try n[0].node.run("sync-keys", ["name", "alice"]).lines == ["alice"])
        #expect(try n[1].node.run("sync-keys", ["name", "bob"]).lines == ["bob"])
        for x in n { try x.up() }
        try n[0].node.write(p[0] + "/hello.txt", "hello from A\n")
        #expect(waitFor(30) { (try? String(contentsOfFile: p[1] + "/hello.txt", encoding: .utf8)) == "hello from A\n" },
                "A's file did not reach B\nA: \(n[0].log)\nB: \(n[1].log)")
        try n[1].node.write(p[1] + "/reply.txt", "hello from B\n")
        #expect(waitFor(30) { (try? String(contentsOfFile: p[0] + "/reply.txt", encoding: .utf8)) == "hello from B\n" },
                "B's file did not reach A\nA: \(n[0].log)\nB: \(n[1].log)")
        // An edit, a rename and a deletion, each on its own side.
        try n[0].node.sh("cd '\(p[0])' && echo more >> hello.txt && mkdir sub && mv reply.txt sub/")
        try n[1].node.sh("cd '\(p[1])' && sleep 0.3 && echo new > other.txt")
        let converged = try waitFor(30) {
            try contents(p[0]) == contents(p[1]) && FileManager.default.fileExists(atPath: p[0] + "/other.txt")
                && FileManager.default.fileExists(atPath: p[1] + "/sub/reply.txt")
        }
        let (ca, cb) = (try contents(p[0]), try contents(p[1]))
        #expect(converged, "not converged\nA: \(ca)\nB: \(cb)")
        #expect(!(try contents(p[1])).contains(".sync-tmp"))
        // One daemon per state directory.
        let second = try n[0].node.run("sync-daemon", [])
        #expect(second.status == 1 && second.stderr.contains("another sync daemon runs"), "\(second)")
        // sync status says, in a word, that the folder is in sync, and names the one peer (dialed out
        // and dialed in: one peer) by the name it gave itself.
        var status = Outcome(status: 0, stdout: "", stderr: "")
        let settled = waitFor(20) {
            status = (try? n[1].node.run("sync-status", [id])) ?? status
            return status.stdout.hasPrefix("folder \(id) (shared): in sync\n")
        }
        #expect(settled, "\(status)")
        let peerLines = status.lines.filter { $0.hasPrefix("  peer:") }
        #expect(peerLines.count == 1 && peerLines[0].hasPrefix("  peer:        alice (\(n[0].remote(id))) up since ")
                && peerLines[0].hasSuffix(", in sync"), "\(status)")
        // A change on its way is not "in sync" on the side that lacks it, until it lands.
        let json = try JSONSerialization.jsonObject(with: Data(try n[0].node.run("sync-status", ["--json", id]).stdout.utf8)) as? [[String: Any]]
        #expect(json?.first?["summary"] as? String == "in sync", "\(json ?? [])")
        #expect(((json?.first?["peers"] as? [[String: Any]])?.first?["name"] as? String) == "bob")
        let peers = try n[0].node.run("sync-peer", ["list"])
        #expect(peers.stdout.contains(n[1].remote(id) + " up"), "\(peers)")
        // A clean stop leaves no link files and no children.
        for x in n { x.down() }
        for x in n {
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: x.node.stateDir + "/run/links")) ?? []).isEmpty)
            #expect(x.log.contains("stopped"), "\(x.log)")
        }
    }
}

extension LiveTests {
    /// Makes `count` random changes (write or delete one of 30 files) on random nodes.
    func randomChanges(_ count: Int, on paths: [String], seed: UInt64) throws {
        var rng = SplitMix(seed)
        for i in 0..<count {
            let p = paths[Int(rng.next() % UInt64(paths.count))]
            let file = p + "/f\(rng.next() % 30).txt"
            if rng.next() % 4 == 0, FileManager.default.fileExists(atPath: file) {
                try? FileManager.default.removeItem(atPath: file)
            } else {
                try "change \(i) \(rng.next())\n".write(toFile: file, atomically: false, encoding: .utf8)
            }
            usleep(UInt32(20_000 + rng.next() % 60_000))
        }
    }

    /// The trace lines of every node.
    func traces(_ nodes: [PeerNode]) -> [[String]] {
        nodes.map { n in
            ((try? String(contentsOfFile: n.node.stateDir + "/run/trace", encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }
    }

    /// Runs 100 random changes over `count` nodes linked as `linked` says and checks convergence
    /// and the notices and pulls the links made.
    func converge(_ count: Int, name: String, linked: (Int, Int) -> Bool) throws {
        let (n, _, p) = try nodes(count, linked: linked)
        defer { for x in n { x.down() } }
        for x in n {
            try FileManager.default.createDirectory(atPath: x.node.stateDir + "/run", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: x.node.stateDir + "/run/trace", contents: nil)
            x.node.extraEnvironment["SYNC_KEEPALIVE"] = "1s"
            try x.up()
        }
        // Every link up before the changes start.
        #expect(waitFor(30) { n.allSatisfy { x in (try? x.node.run("sync-peer", ["list"]).lines.allSatisfy { $0.hasSuffix(" up") }) == true } })
        // SYNC_TEST_SEED runs the same test on other seeds (a failing one is kept as a test of its own).
        let seed = ProcessInfo.processInfo.environment["SYNC_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64(count) * 7919 + UInt64(name.count)
        try randomChanges(100, on: p, seed: seed)
        let converged = try waitFor(120) {
            let all = try p.map { try contents($0) }
            return all.allSatisfy { $0 == all[0] } && !all[0].contains(".sync-tmp")
        }
        let states = try p.map { try contents($0) }
        if !converged, let keep = ProcessInfo.processInfo.environment["SYNC_TEST_KEEP"] {
            for (i, x) in n.enumerated() { try x.node.sh("mkdir -p '\(keep)/\(name)' && cp -a '\(x.node.base)' '\(keep)/\(name)/\(i)'") }
        }
        #expect(converged, "\(name), seed \(seed): not converged: \(states)")
        // Settled: every node's history agrees with its folder.
        usleep(3_000_000)
        let before = traces(n)
        // Nothing changes now: keepalives flow (every second), but no notice of a new sequence and no pull.
        usleep(5_000_000)
        let after = traces(n)
        #expect(before.map(\.count) == after.map(\.count), "\(name): links kept working with nothing to do: \(zip(before, after).map { $1.dropFirst($0.count) })")
        // No node pulled a sequence it held already: per node, peer and folder, each pull starts at or
        // after where the one before it ended.
        var pulls = 0, tells = 0, notices = 0
        for lines in after {
            var held: [String: Int64] = [:]
            for l in lines {
                let f = l.split(separator: " ").map(String.init)
                guard f.count > 5 else { continue }
                let kv = Dictionary(f.dropFirst(5).compactMap { x -> (String, Int64)? in
                    let parts = x.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, let v = Int64(parts[1]) else { return nil }
                    return (String(parts[0]), v)
                }, uniquingKeysWith: { a, _ in a })
                switch f[2] {
                case "tell": tells += 1
                case "notice": notices += 1
                case "pull":
                    pulls += 1
                    let key = f[3] + " " + f[4]
                    if let h = held[key] { #expect(kv["since"]! >= h, "\(name): pulled from before what it held: \(l)") }
                    held[key] = kv["held"]!
                default: break
                }
            }
        }
        print("\(name): \(count) nodes, 100 changes: \(tells) notices told, \(notices) heard, \(pulls) pulls")
        // A pull per change and link at most, far fewer in practice (changes go in batches).
        #expect(pulls <= 100 * 2 * count, "\(name): \(pulls) pulls")
    }

    @Test func fiveNodesInARingConverge() throws {
        try converge(5, name: "ring") { i, j in (i + 1) % 5 == j || (j + 1) % 5 == i }
    }

    @Test func fiveNodesFullyMeshedConverge() throws {
        try converge(5, name: "mesh") { _, _ in true }
    }
}

extension LiveTests {
    @Test func aNodeKilledDuringATransferConvergesWhenRestarted() throws {
        let (n, id, p) = try nodes(2)
        defer { for x in n { x.down() } }
        for x in n { try x.up() }
        #expect(waitFor(30) { (try? n[1].node.run("sync-peer", ["list"]).stdout.hasSuffix(" up\n")) == true })
        // A big file on A, and small ones around it; B is killed while the big one comes.
        try n[0].node.sh("""
            cd '\(p[0])' && head -c 200000000 /dev/urandom > big.bin.part && mv big.bin.part big.bin && \
            for i in $(seq 1 50); do echo $i > small-$i.txt; done
            """)
        let started = waitFor(60) {
            // The big file's temporary file, part written.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: p[1])) ?? []
            return names.contains { name in
                guard name.hasPrefix(".sync-tmp-"), let a = try? FileManager.default.attributesOfItem(atPath: p[1] + "/" + name),
                      let size = a[.size] as? Int else { return false }
                return size > 20_000_000
            }
        }
        #expect(started, "B never started the transfer: \(n[1].log)")
        n[1].crash()
        let leftover = ((try? FileManager.default.contentsOfDirectory(atPath: p[1])) ?? []).filter { $0.hasPrefix(".sync-tmp-") }
        try n[1].up()
        let converged = try waitFor(120) { try contents(p[0]) == contents(p[1]) }
        let (ca, cb) = (try contents(p[0]), try contents(p[1]))
        #expect(converged, "not converged after the restart\nA: \(ca)\nB: \(cb)\nB's log: \(n[1].log)")
        #expect(!cb.contains(".sync-tmp"), "temporary files left: \(cb)")
        #expect(try n[1].node.git(id, "fsck --no-progress").status == 0)
        print("killed B with \(leftover) in its folder; converged after the restart")
    }

    @Test func aNodeOfflineDuring500ChangesCatchesUpByItself() throws {
        let (n, _, p) = try nodes(3)
        defer { for x in n { x.down() } }
        for x in n { try x.up() }
        #expect(waitFor(30) { n.allSatisfy { x in (try? x.node.run("sync-peer", ["list"]).lines.allSatisfy { $0.hasSuffix(" up") }) == true } })
        try n[0].node.write(p[0] + "/before.txt", "before\n")
        #expect(waitFor(30) { FileManager.default.fileExists(atPath: p[2] + "/before.txt") })
        // C goes away: its daemon and its sshd.
        n[2].down()
        n[2].stop()
        // 500 changes on A and B: files made, edited, renamed and deleted.
        try n[0].node.sh("""
            cd '\(p[0])' && mkdir -p a && for i in $(seq 1 200); do echo "a $i" > a/$i.txt; done && \
            for i in $(seq 1 50); do echo edited >> a/$i.txt; done && for i in $(seq 51 75); do rm a/$i.txt; done && \
            for i in $(seq 76 100); do mv a/$i.txt a/moved-$i.txt; done
            """)
        try n[1].node.sh("cd '\(p[1])' && mkdir -p b && for i in $(seq 1 200); do echo \"b $i\" > b/$i.txt; done")
        #expect(try waitFor(60) { try contents(p[0]) == contents(p[1]) && FileManager.default.fileExists(atPath: p[0] + "/b/200.txt") })
        // C comes back: no command but starting it again.
        try n[2].start()
        try n[2].up()
        let converged = try waitFor(90) { try contents(p[2]) == contents(p[0]) && contents(p[0]) == contents(p[1]) }
        let (ca, cc) = (try contents(p[0]), try contents(p[2]))
        #expect(converged, "C did not catch up\nA: \(ca)\nC: \(cc)\nC's log: \(n[2].log)")
    }
}

extension LiveTests {
    /// Without sync up: a hand-made pipeline's sync-notify dials the peer no link follows, which
    /// then pulls the change through the offer.
    @Test func notifyDialsAPeerThatNoLinkFollows() throws {
        let (n, id, p) = try nodes(2)
        // Detached, and holding none of the test runner's descriptors (it would wait for their end).
        let pipeline = try Node.execute("/bin/bash", ["-c", """
            for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null; done
            (sync-watch \(id) | sync-commit \(id) | sync-notify \(id) > '\(n[0].node.base)/notify.out' 2>'\(n[0].node.base)/notify.err') \
                </dev/null >/dev/null 2>&1 & echo $!
            """], environment: n[0].node.environment, stdin: nil, timeout: 60)
        defer {
            // The watcher's end ends the rest of the pipeline.
            _ = try? n[0].node.sh("pkill -TERM -f 'sync-watch \(id)'")
        }
        #expect(pipeline.status == 0)
        usleep(500_000) // the watcher is set up
        try n[0].node.write(p[0] + "/told.txt", "told\n")
        let arrived = waitFor(30) { (try? String(contentsOfFile: p[1] + "/told.txt", encoding: .utf8)) == "told\n" }
        let err = (try? String(contentsOfFile: n[0].node.base + "/notify.err", encoding: .utf8)) ?? ""
        #expect(arrived, "the change did not reach B: \(err)")
        // sync-notify passes sync-commit's lines on.
        let out = (try? String(contentsOfFile: n[0].node.base + "/notify.out", encoding: .utf8)) ?? ""
        #expect(out.hasPrefix("\(id) "), "\(out)")
    }

    /// A folder added while sync up runs is picked up without a restart.
    @Test func aFolderAddedWhileRunningIsPickedUp() throws {
        let (n, _, _) = try nodes(2)
        defer { for x in n { x.down() } }
        for x in n { try x.up() }
        let (pa, id) = try n[0].node.folder("later")
        let pb = try n[1].join("later", id: id)
        try n[0].allow(n[1], id)
        try n[1].allow(n[0], id)
        try n[1].addPeer(n[0], id)
        try n[0].node.write(pa + "/late.txt", "late\n")
        #expect(waitFor(30) { (try? String(contentsOfFile: pb + "/late.txt", encoding: .utf8)) == "late\n" },
                "the new folder was not followed: \(n[1].log)")
    }
}

extension LiveTests {
    /// A large deletion is held on the node that made it until `sync confirm`; a small one spreads.
    @Test func theDeletionGuardHoldsAnEmptiedFolderUntilConfirmed() throws {
        let (n, id, p) = try nodes(2)
        try n[0].node.sh("cd '\(p[0])' && mkdir d && for i in $(seq 1 150); do echo $i > d/$i.txt; done")
        #expect(try n[0].commit(p[0]).status == 0)
        #expect(try n[1].pull(n[0], id, ["--no-offer"]).status == 0)
        func count(_ dir: String) -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/d")) ?? []).count }
        #expect(count(p[1]) == 150)
        // 10 of 150: below both bounds, spreads.
        try n[0].node.sh("cd '\(p[0])/d' && rm $(seq -f %g.txt 1 10)")
        #expect(try n[0].commit(p[0]).status == 0)
        #expect(try n[1].pull(n[0], id, ["--no-offer"]).status == 0)
        #expect(count(p[1]) == 140)
        // Everything: held here, with a warning, a status line, and nothing for the peer.
        try n[0].node.sh("rm -rf '\(p[0])'/d/*")
        let emptied = try n[0].commit(p[0])
        #expect(emptied.status == 0 && emptied.stderr.contains("deletes 140 of the folder's 140 files"), "\(emptied)")
        #expect(try n[0].node.run("sync-status", [id]).stdout.contains("held:"))
        let held = try n[1].pull(n[0], id, ["--no-offer"])
        #expect(held.status == 0, "\(held)")
        #expect(count(p[1]) == 140, "the held deletion reached B: \(held)")
        // A later change is held too; confirm lets both go.
        try n[0].node.write(p[0] + "/after.txt", "after\n")
        #expect(try n[0].commit(p[0]).status == 0)
        #expect(try n[1].pull(n[0], id, ["--no-offer"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: p[1] + "/after.txt"))
        let confirm = try n[0].node.run("sync-confirm", [id])
        #expect(confirm.stdout.hasPrefix("released \(id) from sequence "), "\(confirm)")
        #expect(try n[0].node.run("sync-confirm", [id]).stdout == "nothing held \(id)\n")
        #expect(try n[1].pull(n[0], id, ["--no-offer"]).status == 0)
        #expect(count(p[1]) == 0)
        #expect(FileManager.default.fileExists(atPath: p[1] + "/after.txt"))
        #expect(try contents(p[0]) == contents(p[1]))
    }
}

extension LiveTests {
    /// The daemon starts a child that died again: A's watcher and B's link are killed with SIGKILL.
    @Test func aChildThatDiesIsStartedAgain() throws {
        let (n, _, p) = try nodes(2)
        defer { for x in n { x.down() } }
        for x in n { try x.up() }
        #expect(waitFor(30) { (try? n[1].node.run("sync-peer", ["list"]).stdout.hasSuffix(" up\n")) == true })
        func child(of node: PeerNode, named name: String) -> Int32? {
            PeerNode.descendants(of: node.daemon ?? -1).first { pid in
                let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                return cmd.hasPrefix(name + "\0")
            }
        }
        let watcher = try #require(child(of: n[0], named: "sync-watch"))
        let link = try #require(child(of: n[1], named: "sync-pull"))
        kill(watcher, SIGKILL)
        kill(link, SIGKILL)
        #expect(waitFor(20) { child(of: n[0], named: "sync-watch").map { $0 != watcher } == true })
        #expect(waitFor(20) { (try? n[1].node.run("sync-peer", ["list"]).stdout.hasSuffix(" up\n")) == true })
        try n[0].node.write(p[0] + "/after-restart.txt", "still syncing\n")
        #expect(waitFor(30) { (try? String(contentsOfFile: p[1] + "/after-restart.txt", encoding: .utf8)) == "still syncing\n" },
                "A: \(n[0].log)\nB: \(n[1].log)")
        #expect(n[0].log.contains("was killed by signal 9") && n[0].log.contains("starting again"), "\(n[0].log)")
        // One line for the death and one for the restart: not one per part of the pipeline stopped with it.
        let restarts = n[0].log.components(separatedBy: "\n").filter { $0.contains("pipeline") && $0.contains("starting again") }
        #expect(restarts.count == 1, "\(n[0].log)")
    }
}

extension LiveTests {
    /// `sync up` prunes each folder's history on its schedule, by the folder's retention.
    @Test func theDaemonPrunesOnSchedule() throws {
        let (n, id, p) = try nodes(1)
        for i in 0..<12 {
            try n[0].node.write(p[0] + "/a.txt", "version \(i)\n")
            #expect(try n[0].commit(p[0]).status == 0)
        }
        #expect(try n[0].node.git(id, "rev-list --count main").stdout == "12\n")
        for (k, v) in [("history.keep-last", "3"), ("history.prune-every", "2s")] {
            #expect(try n[0].node.run("sync-config", [id, k, v]).status == 0)
        }
        defer { n[0].down() }
        try n[0].up()
        #expect(waitFor(30) { (try? n[0].node.git(id, "rev-list --count main").stdout) == "3\n" }, "\(n[0].log)")
        #expect(waitFor(10) { n[0].log.contains("prune \(id): done") }, "\(n[0].log)")
        #expect(n[0].log.contains("dropped 9 of 12 versions"), "\(n[0].log)")
        // Still recording: a change after the prune is committed on top of the pruned history.
        try n[0].node.write(p[0] + "/b.txt", "after\n")
        #expect(waitFor(20) { (try? n[0].node.git(id, "show main:b.txt").stdout) == "after\n" }, "\(n[0].log)")
        #expect(try n[0].node.git(id, "fsck --full --no-progress").status == 0)
    }
}

extension LiveTests {
    /// Deletion records expire by tombstones.keep-within, but only once every peer that pulls the
    /// folder has seen them: a deletion never comes back, and a peer away for longer still gets it.
    @Test func expiredDeletionRecordsBringNothingBack() throws {
        let (n, id, p) = try nodes(2)
        func exists(_ i: Int, _ name: String) -> Bool { FileManager.default.fileExists(atPath: p[i] + "/" + name) }
        func pull(_ to: Int, _ from: Int) throws {
            let r = try n[to].pull(n[from], id, ["--no-offer"])
            #expect(r.status == 0, "\(r)")
        }
        func prune(_ i: Int) throws -> [String: Any] {
            let r = try n[i].node.run("sync-prune", ["--json", id])
            #expect(r.status == 0, "\(r)")
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
        }
        try n[0].node.write(p[0] + "/gone.txt", "to be deleted\n")
        try n[0].node.write(p[0] + "/later.txt", "deleted while B is away\n")
        try n[0].node.write(p[0] + "/stays.txt", "stays\n")
        #expect(try n[0].commit(p[0]).status == 0)
        try pull(1, 0)
        #expect(exists(1, "gone.txt") && exists(1, "later.txt"))

        // A deletion that propagated, and that each node has seen the other ask past.
        try FileManager.default.removeItem(atPath: p[0] + "/gone.txt")
        #expect(try n[0].commit(p[0]).status == 0)
        for _ in 0..<2 { try pull(1, 0); try pull(0, 1) }
        #expect(!exists(1, "gone.txt"))

        // B goes away; A deletes another file; both outlive the deletion records' rule.
        n[1].stop()
        try FileManager.default.removeItem(atPath: p[0] + "/later.txt")
        #expect(try n[0].commit(p[0]).status == 0)
        for i in 0..<2 { #expect(try n[i].node.run("sync-config", [id, "tombstones.keep-within", "1s"]).status == 0) }
        usleep(2_500_000)
        let a = try prune(0), b = try prune(1)
        #expect(a["tombstonesExpired"] as? Int == 1 && a["tombstonesWaiting"] as? Int == 1, "A: \(a)")
        #expect(b["tombstonesExpired"] as? Int == 1, "B: \(b)")
        let still = try n[0].node.run("sync-prune", ["--dry-run", "--json", id])
        #expect(still.stdout.contains("\"tombstonesWaiting\" : 1") && still.stdout.contains("\"tombstonesExpired\" : 0"), "\(still)")

        // B comes back: the deletion it missed reaches it, the old one does not come back anywhere.
        try n[1].start()
        for _ in 0..<2 { try pull(1, 0); try pull(0, 1) }
        for i in 0..<2 {
            #expect(!exists(i, "gone.txt") && !exists(i, "later.txt") && exists(i, "stays.txt"), "node \(i)")
        }
        #expect(try contents(p[0]) == contents(p[1]))
        // Now B has seen it too: the second record goes.
        #expect(try prune(0)["tombstonesExpired"] as? Int == 1)
    }
}
