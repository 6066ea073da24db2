import Foundation
import Testing

/// Two and more nodes over real sshd on loopback.
@Suite(.serialized, .enabled(if: PeerNode.available)) struct PeerTests {
    /// A and B share one folder and allow each other.
    func pair() throws -> (a: PeerNode, b: PeerNode, id: String, pa: String, pb: String) {
        let a = try PeerNode(), b = try PeerNode()
        let (pa, id) = try a.node.folder("shared")
        let pb = try b.join("shared", id: id)
        try a.allow(b, id)
        try b.allow(a, id)
        return (a, b, id, pa, pb)
    }

    /// A big file renamed into a new directory: recorded as a rename, moved on the peer (same
    /// inode), no content on the link, and both logs say `R`.
    @Test func aBigFileRenamedCrossesAsARename() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("cd '\(pa)' && head -c 4000000 /dev/urandom > big.mkv && truncate -s 300M big.mkv")
        #expect(try a.commit(pa).status == 0)
        #expect(try b.pull(a, id).status == 0)
        func inode(_ p: String) -> UInt64 { var st = stat(); return lstat(p, &st) == 0 ? UInt64(st.st_ino) : 0 }
        let before = inode(pb + "/big.mkv")
        try a.node.sh("cd '\(pa)' && mkdir -p films/2026 && mv big.mkv films/2026/big.mkv")
        #expect(try a.commit(pa).status == 0)
        #expect(try a.node.run("sync-log", [id, "-n", "1"]).stdout.contains("\tR big.mkv -> films/2026/big.mkv"))
        let pulled = try b.pull(a, id, ["--stats"])
        #expect(pulled.status == 0, "\(pulled)")
        #expect(pulled.lines.contains("R big.mkv -> films/2026/big.mkv"), "\(pulled)")
        #expect(pulled.stderr.contains("content 0 bytes"), "\(pulled)")
        #expect(inode(pb + "/films/2026/big.mkv") == before, "copied, not moved")
        #expect(try contents(pb) == contents(pa))
        let log = try b.node.run("sync-log", [id, "-n", "1"])
        #expect(log.stdout.contains("\tR big.mkv -> films/2026/big.mkv (made on "), "\(log)")
    }

    @Test func everyKindOfChangeCrossesOver() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("""
            cd '\(pa)' && mkdir -p d/e/f empty && echo hello > d/e/f/deep.txt && : > zero && \
            printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod +x run.sh && ln -s d/e target-link && \
            echo one > one.txt && echo two > two.txt && echo gone > gone.txt
            """)
        #expect(try a.commit(pa).status == 0)
        let first = try b.pull(a, id)
        #expect(first.status == 0, "\(first)")
        #expect(try contents(pb) == contents(pa))

        try a.node.sh("""
            cd '\(pa)' && echo changed >> one.txt && mv two.txt renamed.txt && rm gone.txt && chmod -x run.sh && \
            rm -r empty && mkdir -p new/dir
            """)
        #expect(try a.commit(pa).status == 0)
        let second = try b.pull(a, id, ["--stats"])
        #expect(second.status == 0, "\(second)")
        #expect(try contents(pb) == contents(pa))
        // The rename sent no content: one.txt's 12 bytes are all that came whole.
        #expect(second.stderr.contains("content 12 bytes"), "\(second)")
        #expect(second.lines.contains("D gone.txt"))
        #expect(second.lines.contains("R two.txt -> renamed.txt"), "\(second)")
        #expect(second.lines.contains("M one.txt"))
        // B's own history holds A's changes as B's commits, and git agrees with the worktree.
        #expect(try b.node.worktreeMatchesHead(id, pb).stdout == "")
        #expect(try b.node.git(id, "fsck --no-progress").status == 0)
        // Nothing comes back: A pulls from B and changes nothing.
        let back = try a.pull(b, id, ["--stats"])
        #expect(back.status == 0, "\(back)")
        #expect(back.lines.count == 1, "\(back)")
        #expect(back.stderr.contains("content 0 bytes"), "\(back)")
    }

    @Test func deniedAndMissingFoldersLookTheSame() throws {
        let (a, b, id, _, _) = try pair()
        let (_, other) = try a.node.folder("private") // exists, B not allowed
        let missing = "aaaaaaaaaaaaaaaa"
        let pOther = try b.join("o", id: other)
        _ = pOther
        let pMissing = try b.join("m", id: missing)
        _ = pMissing
        #expect(try b.pull(a, id).status == 0) // pins A's host key
        let denied = try b.pull(a, other, ["--no-offer"])
        let absent = try b.pull(a, missing, ["--no-offer"])
        #expect(denied.status == 1 && absent.status == 1, "\(denied)\n\(absent)")
        #expect(denied.stdout == "" && absent.stdout == "")
        #expect(denied.stderr.replacingOccurrences(of: other, with: "F") == absent.stderr.replacingOccurrences(of: missing, with: "F"))
        // Revoking: B loses the folder at once.
        let deny = try a.node.run("sync-keys", ["deny", id, try b.publicKey()])
        #expect(deny.status == 0, "\(deny)")
        // B was A's only peer: its line is gone, so sshd refuses the key itself.
        let refused = try b.pull(a, id)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("permission denied"), "\(refused)")
        #expect(try !String(contentsOfFile: a.authorizedKeys, encoding: .utf8).contains("sync-serve"))
    }

    @Test func inviteAndJoinPairTwoNodesWithOneCommandEach() throws {
        let a = try PeerNode(), b = try PeerNode(), c = try PeerNode()
        let (pa, id) = try a.node.folder("shared")
        try a.node.sh("cd '\(pa)' && mkdir sub && echo from-a > sub/a.txt")
        #expect(try a.commit(pa).status == 0)
        let invited = try a.invite(id)
        #expect(invited.status == 0, "\(invited)")
        let token = invited.stdout.trimmingCharacters(in: .newlines)
        #expect(token.hasPrefix("sync-invite-1:") && !token.contains("\n"))
        #expect(try String(contentsOfFile: a.authorizedKeys, encoding: .utf8).contains("--invite "))

        // B joins at a path that does not exist yet, then one pull brings the folder.
        let pb = b.node.base + "/laptop/shared"
        let joined = try b.node.run("sync-join", [token, pb])
        #expect(joined.status == 0, "\(joined)")
        #expect(joined.lines == [id, "ssh://root@127.0.0.1:\(a.port)/\(id)"], "\(joined)")
        // A now allows B (and the invite line is gone); B allows A.
        let keys = try String(contentsOfFile: a.authorizedKeys, encoding: .utf8)
        let idA = try a.node.run("sync-keys", ["id"]).lines[0], idB = try b.node.run("sync-keys", ["id"]).lines[0]
        #expect(!keys.contains("--invite ") && keys.contains("--peer \(idB)"), "\(keys)")
        #expect(try a.node.run("sync-keys", ["list", id]).lines.count == 1)
        let listedOnB = try b.node.run("sync-keys", ["list", id]).lines
        #expect(listedOnB.count == 1 && listedOnB[0].hasPrefix(idA), "\(listedOnB)")
        let pulled = try b.node.run("sync-pull", [joined.lines[1]])
        #expect(pulled.status == 0, "\(pulled)")
        #expect(try contents(pb) == contents(pa))
        // And B's changes reach A through the offer on B's own pull.
        try b.node.sh("echo from-b > '\(pb)/b.txt'")
        #expect(try b.commit(pb).status == 0)
        #expect(try b.node.run("sync-pull", [joined.lines[1]]).status == 0)
        #expect(try String(contentsOfFile: pa + "/b.txt", encoding: .utf8) == "from-b\n")

        // The token is used up: C cannot join with it, and nothing is left registered on C.
        let again = try c.node.run("sync-join", [token, c.node.base + "/x"])
        #expect(again.status == 1 && again.stderr.contains("refused"), "\(again)")
        #expect(try c.node.run("sync-folders", []).stdout == "")
        #expect(!FileManager.default.fileExists(atPath: c.node.base + "/x"))

        // A token whose host key is not the one the address shows is refused before any login.
        let wrongHost = try a.node.run("sync-keys", ["invite", id, "--address", "root@127.0.0.1:\(c.port)",
                                                     "--host-key", a.sshdDirectory + "/host_key.pub"])
        let misled = try c.node.run("sync-join", [wrongHost.stdout.trimmingCharacters(in: .newlines), c.node.base + "/y"])
        #expect(misled.status == 1 && misled.stderr.contains("the invite names"), "\(misled)")
        // Expired, damaged and own tokens.
        let short = try a.invite(id, ["--expires", "1s"])
        sleep(2)
        let late = try c.node.run("sync-join", [short.stdout.trimmingCharacters(in: .newlines), c.node.base + "/z"])
        #expect(late.status == 1 && late.stderr.contains("expired"), "\(late)")
        // Expired invites leave A's authorized_keys at the next rewrite.
        #expect(try a.node.run("sync-keys", ["allow", id, try c.publicKey()]).status == 0)
        let lines = try String(contentsOfFile: a.authorizedKeys, encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains(" --invite ") }.count == 1, "\(lines)") // the wrong-host one, still valid
        let damaged = try c.node.run("sync-join", [String(token.dropLast(9)), c.node.base + "/z"])
        #expect(damaged.status == 2 && damaged.stderr.contains("not an invite token"), "\(damaged)")
        let own = try a.invite(id)
        let mine = try a.node.run("sync-join", [own.stdout.trimmingCharacters(in: .newlines), a.node.base + "/self"])
        #expect(mine.status == 1 && mine.stderr.contains("own"), "\(mine)")
    }

    @Test func anInviteWithoutPortOrHostKeyNamesTheSshdThisNodeRuns() throws {
        let a = try PeerNode(), b = try PeerNode(), c = try PeerNode()
        let (pa, id) = try a.node.folder("shared")
        // A peer that recorded nothing yet says so to the puller, rather than an empty folder.
        let (_, empty) = try a.node.folder("empty")
        _ = try b.join("empty", id: empty)
        try a.allow(b, empty)
        let nothing = try b.pull(a, empty, ["--no-offer"])
        #expect(nothing.status == 0 && nothing.stderr.contains("the peer has recorded nothing yet"), "\(nothing)")
        // Not recorded before the invite: the invite records it, so the first pull brings it.
        try a.node.sh("echo hello > '\(pa)/a.txt'")
        // The port and host key come from this machine's sshd_config (another port, its own key).
        a.node.extraEnvironment["SYNC_SSHD_CONFIG"] = a.sshdDirectory + "/sshd_config"
        let fromSshd = try a.node.run("sync-keys", ["invite", id, "--address", "root@127.0.0.1"])
        #expect(fromSshd.status == 0 && fromSshd.stderr.contains("recorded 1 change first"), "\(fromSshd)")
        let joined = try b.node.run("sync-join", [fromSshd.stdout.trimmingCharacters(in: .newlines), b.node.base + "/shared"])
        #expect(joined.status == 0 && joined.lines.last == "ssh://root@127.0.0.1:\(a.port)/\(id)", "\(joined)")
        #expect(try b.node.run("sync-pull", [joined.lines[1]]).status == 0)
        #expect(try String(contentsOfFile: b.node.base + "/shared/a.txt", encoding: .utf8) == "hello\n")
        // A port ~/.ssh/config gives the host wins over sshd_config's, as sync pull would dial it.
        a.node.extraEnvironment["SYNC_SSHD_CONFIG"] = "/dev/null"
        try "Host 127.0.0.1\n    Port \(c.port)\n".write(toFile: a.node.base + "/home/.ssh/config", atomically: true, encoding: .utf8)
        let fromConfig = try a.node.run("sync-keys", ["invite", id, "--address", "root@127.0.0.1", "--host-key", c.sshdDirectory + "/host_key.pub"])
        #expect(fromConfig.status == 0 && fromConfig.stderr.contains("127.0.0.1:\(c.port)"), "\(fromConfig)")
        // With neither, OpenSSH's default host key (not this sshd's) is named, and the mismatch says
        // what to do.
        try "".write(toFile: a.node.base + "/home/.ssh/config", atomically: true, encoding: .utf8)
        if FileManager.default.fileExists(atPath: "/etc/ssh/ssh_host_ed25519_key.pub") {
            let defaults = try a.node.run("sync-keys", ["invite", id, "--address", "root@127.0.0.1:\(a.port)"])
            let misled = try c.node.run("sync-join", [defaults.stdout.trimmingCharacters(in: .newlines), c.node.base + "/y"])
            #expect(misled.status == 1 && misled.stderr.contains("--host-key"), "\(misled)")
        }
    }

    @Test(.enabled(if: have("script"))) func progressIsShownOnATerminalOnly() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("cd '\(pa)' && for i in $(seq 1 300); do echo $i > f$i; done")
        #expect(try a.commit(pa).status == 0)
        // On a terminal (script gives the pull one): one line redrawn in place, then cleared.
        let tty = try b.node.sh("script -qec 'sync-pull --no-offer \(a.remote(id))' /dev/null")
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("\r\u{1B}[Kpulling ") && tty.stdout.contains(" entries"), "\(tty.stdout.prefix(400))")
        #expect(try contents(pb) == contents(pa))
        // Not on a terminal: plain lines only.
        try a.node.sh("echo more >> '\(pa)/f1'")
        #expect(try a.commit(pa).status == 0)
        let plain = try b.pull(a, id, ["--no-offer"])
        #expect(plain.status == 0 && !plain.stderr.contains("\u{1B}") && !plain.stdout.contains("\u{1B}"), "\(plain)")
        #expect(plain.lines.first == "M f1")
    }

    @Test func aRestoredDirectorySpreadsToPeersAsANewChange() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("mkdir -p '\(pa)/docs' && echo v1 > '\(pa)/docs/a.txt' && echo keep > '\(pa)/docs/b.txt'")
        #expect(try a.commit(pa).status == 0)
        let first = try a.node.run("sync-log", [id, "-n", "1"]).stdout.split(separator: "\t")[2]
        #expect(try b.pull(a, id).status == 0)
        try a.node.sh("echo v2 > '\(pa)/docs/a.txt' && rm '\(pa)/docs/b.txt' && echo new > '\(pa)/docs/c.txt'")
        #expect(try a.commit(pa).status == 0)
        #expect(try b.pull(a, id).status == 0)
        #expect(!FileManager.default.fileExists(atPath: pb + "/docs/b.txt"))
        // A brings the directory back as it was; the restore is a change like any other and reaches B.
        let restored = try a.node.run("sync-restore", [pa + "/docs", "--at", String(first)])
        #expect(restored.status == 0, "\(restored)")
        let pulled = try b.pull(a, id)
        #expect(pulled.status == 0, "\(pulled)")
        #expect(try String(contentsOfFile: pb + "/docs/a.txt", encoding: .utf8) == "v1\n")
        #expect(try String(contentsOfFile: pb + "/docs/b.txt", encoding: .utf8) == "keep\n")
        // The directory is as it was: a file made after that point goes, on both nodes, and stays in history.
        #expect(!FileManager.default.fileExists(atPath: pb + "/docs/c.txt"))
        #expect(try a.node.run("sync-show", ["--folder", id, "HEAD~1:docs/c.txt"]).stdout == "new\n")
        #expect(try contents(pb) == contents(pa))
        let none = try b.node.run("sync-conflicts", [id])
        #expect(none.stdout == "" && none.stderr == "sync-conflicts: no conflict copies\n" && none.status == 0, "\(none)")
    }

    @Test func concurrentEditsBecomeAConflictCopyOnBothNodes() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("cd '\(pa)' && echo base > doc.txt && echo base > del.txt")
        #expect(try a.commit(pa).status == 0)
        #expect(try b.pull(a, id).status == 0)
        // Both edit doc.txt; A deletes del.txt while B modifies it. B's edit is the later one.
        try a.node.sh("cd '\(pa)' && echo from-a > doc.txt && rm del.txt && touch -d '2026-01-01 10:00:00' doc.txt")
        try b.node.sh("cd '\(pb)' && echo from-b > doc.txt && echo kept >> del.txt && touch -d '2026-01-01 11:00:00' doc.txt")
        #expect(try a.commit(pa).status == 0)
        #expect(try b.commit(pb).status == 0)
        // One pull, with the offer: B takes A's changes and A takes B's over the same link.
        let r = try b.pull(a, id)
        #expect(r.status == 0, "\(r)")
        #expect(try contents(pa) == contents(pb))
        #expect(try String(contentsOfFile: pb + "/doc.txt", encoding: .utf8) == "from-b\n")
        #expect(try String(contentsOfFile: pb + "/del.txt", encoding: .utf8) == "base\nkept\n")
        let copies = try FileManager.default.contentsOfDirectory(atPath: pa).filter { $0.contains(".sync-conflict-") }
        #expect(copies.count == 1, "\(copies)")
        if let copy = copies.first {
            #expect(copy.hasPrefix("doc.sync-conflict-20260101-100000-") && copy.hasSuffix(".txt"), "\(copy)")
            #expect(try String(contentsOfFile: pa + "/" + copy, encoding: .utf8) == "from-a\n")
        }
        for n in [a, b] {
            let c = try n.node.run("sync-conflicts", [id])
            #expect(c.status == 0 && c.lines.first == "conflict doc.txt", "\(c)")
            #expect(c.stdout.contains("keep the other version:  mv "))
        }
        // Both versions are in B's history.
        let log = try b.node.git(id, "log -p --format=%s -- doc.txt 'doc.sync-conflict-*'").stdout
        #expect(log.contains("+from-a") && log.contains("+from-b"), "\(log)")
        // Settled: pulling again either way changes nothing and makes no new conflict.
        let again = try a.pull(b, id, ["--stats"])
        #expect(again.lines.count == 1, "\(again)")
        #expect(again.stderr.contains("content 0 bytes"))
        #expect(try contents(pa) == contents(pb))
    }

    @Test func chainAndTriangleReachEveryNodeOnce() throws {
        let a = try PeerNode(), b = try PeerNode(), c = try PeerNode()
        let (pa, id) = try a.node.folder("f")
        let pb = try b.join("f", id: id), pc = try c.join("f", id: id)
        for (x, y) in [(a, b), (b, a), (b, c), (c, b), (a, c), (c, a)] { try x.allow(y, id) }
        try a.node.sh("cd '\(pa)' && mkdir -p x && for i in $(seq 1 50); do echo $i > x/$i; done")
        #expect(try a.commit(pa).status == 0)
        // Chain: A -> B -> C.
        #expect(try b.pull(a, id, ["--no-offer"]).status == 0)
        #expect(try c.pull(b, id, ["--no-offer"]).status == 0)
        #expect(try contents(pc) == contents(pa))
        // Triangle: C asks A too, and gets nothing twice.
        let third = try c.pull(a, id, ["--stats", "--no-offer"])
        #expect(third.lines.count == 1 && third.stderr.contains("content 0 bytes"), "\(third)")
        // A change on C reaches A through B; A asks C and B afterwards and gets nothing more.
        try c.node.sh("cd '\(pc)' && echo c >> x/1 && rm x/2")
        #expect(try c.commit(pc).status == 0)
        #expect(try b.pull(c, id, ["--no-offer"]).status == 0)
        #expect(try a.pull(b, id, ["--no-offer"]).status == 0)
        for (x, y) in [(a, c), (b, a), (c, a), (c, b)] {
            let r = try x.pull(y, id, ["--stats", "--no-offer"])
            #expect(r.status == 0 && r.lines.count == 1 && r.stderr.contains("content 0 bytes"), "\(r)")
        }
        #expect(try contents(pa) == contents(pb))
        #expect(try contents(pb) == contents(pc))
        for n in [a, b, c] { #expect(try n.node.run("sync-conflicts", [id]).stdout == "") }
    }

    @Test func aNodeBackFromOfflineGetsExactlyTheBacklog() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("cd '\(pa)' && for i in $(seq 1 100); do echo $i > f$i; done")
        #expect(try a.commit(pa).status == 0)
        #expect(try b.pull(a, id).status == 0)
        b.stop() // B is away: nobody can reach it
        try a.node.sh("cd '\(pa)' && for i in $(seq 1 100); do echo again >> f$i; done && for i in $(seq 101 200); do echo $i > g$i; done")
        #expect(try a.commit(pa).status == 0)
        try b.start()
        let r = try b.pull(a, id)
        #expect(r.status == 0, "\(r)")
        #expect(r.lines.count == 201, "\(r.lines.count)")
        #expect(r.lines.filter { $0.hasPrefix("M f") }.count == 100)
        #expect(r.lines.filter { $0.hasPrefix("A g") }.count == 100)
        #expect(try contents(pa) == contents(pb))
    }

    @Test func anAliasFromSSHConfigIsHonoured() throws {
        let (a, b, id, pa, pb) = try pair()
        try "Host desk\n    HostName 127.0.0.1\n    Port \(a.port)\n    User \(try b.node.sh("id -un").stdout)"
            .write(toFile: b.node.base + "/home/.ssh/config", atomically: true, encoding: .utf8)
        try a.node.write(pa + "/hello.txt", "hi\n")
        #expect(try a.commit(pa).status == 0)
        let r = try b.node.run("sync-pull", ["desk:" + id])
        #expect(r.status == 0, "\(r)")
        #expect(try contents(pb) == contents(pa))
    }

    @Test func aChangedHostKeyIsRefused() throws {
        let (a, b, id, _, _) = try pair()
        #expect(try b.pull(a, id).status == 0)
        a.stop()
        try a.node.sh("rm -f '\(a.sshdDirectory)/host_key'* && ssh-keygen -q -t ed25519 -N '' -f '\(a.sshdDirectory)/host_key'")
        try a.start()
        let r = try b.pull(a, id)
        #expect(r.status == 1)
        #expect(r.stderr.contains("host key has changed"), "\(r)")
    }

    @Test func manyFilesAndAGigabyteFileThenAOneByteEditMovesAChunk() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("""
            cd '\(pa)' && mkdir -p many && cd many && for d in $(seq 1 50); do mkdir $d; for i in $(seq 1 100); do echo "$d/$i" > $d/$i; done; done && \
            head -c 1073741824 /dev/urandom > '\(pa)/big.bin'
            """)
        #expect(try a.commit(pa).status == 0)
        let first = try b.pull(a, id, ["--stats"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.lines.count == 5002, "\(first.lines.count)")
        #expect(try contents(pb) == contents(pa))
        // One byte in the middle of the gigabyte.
        try a.node.sh("printf 'Z' | dd of='\(pa)/big.bin' bs=1 seek=536870912 conv=notrunc status=none")
        #expect(try a.commit(pa).status == 0)
        let second = try b.pull(a, id, ["--stats", "--no-offer"])
        #expect(second.status == 0, "\(second)")
        #expect(second.lines == ["M big.bin", second.lines.last!], "\(second)")
        let received = second.stderr.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? -1
        #expect(received > 0 && received < 1 << 20, "\(second.stderr)")
        // Made of B's chunks and the one that changed: no signature, no delta.
        #expect(second.stderr.contains("files 1 (1 from chunks)"), "\(second.stderr)")
        let sums = try a.node.sh("sha256sum '\(pa)/big.bin' '\(pb)/big.bin' | cut -d' ' -f1 | uniq | wc -l").stdout
        #expect(sums.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    /// A git checkout (objects, packs, index, hooks, a submodule list) and names git refuses in a
    /// tree cross over; the copy is a working repository with the same log, and every name comes
    /// back from history under its real name.
    @Test func aGitCheckoutAndNamesGitRefusesSyncAndComeBackFromHistory() throws {
        let (a, b, id, pa, pb) = try pair()
        try a.node.sh("""
            cd '\(pa)' && git init -q proj && cd proj && git config user.name t && git config user.email t@t && \
            echo one > a.txt && printf '[submodule "m"]\\n\\tpath = m\\n\\turl = ../m\\n' > .gitmodules && \
            git add . && git commit -qm one && echo two >> a.txt && git commit -qam two && git gc -q && \
            echo three >> a.txt && git commit -qam three && cp .git/hooks/pre-commit.sample .git/hooks/pre-commit && \
            cd .. && mkdir -p odd/.GIT odd/.Git && echo x > 'odd/.GIT/f' && echo y > 'odd/git~1' && echo z > 'odd/.git.' && \
            echo p > '%pct' && echo q > 'odd/GIT~2'
            """)
        let commit = try a.commit(pa)
        #expect(commit.status == 0, "\(commit)")
        let pulled = try b.pull(a, id)
        #expect(pulled.status == 0, "\(pulled)")
        #expect(try contents(pb) == contents(pa))
        let status = try b.node.sh("cd '\(pb)/proj' && git status --porcelain && git log --format=%H%s")
        let there = try a.node.sh("cd '\(pa)/proj' && git log --format=%H%s")
        #expect(status.status == 0 && status.stdout == there.stdout, "\(status)")
        #expect(try b.node.git(id, "fsck --no-progress").status == 0)
        // Plain git reads B's history: the refused names under their escape.
        let tree = try b.node.git(id, "ls-tree -r --name-only HEAD")
        #expect(tree.stdout.contains("proj/%2Egit/HEAD") && tree.stdout.contains("odd/%67it~1") && tree.stdout.contains("%25pct"))
        // sync show, log and restore use the real names.
        let show = try b.node.run("sync-show", ["HEAD:proj/.git/HEAD", "--folder", id])
        #expect(show.stdout == "ref: refs/heads/main\n" || show.stdout == "ref: refs/heads/master\n", "\(show)")
        let log = try b.node.run("sync-log", [id, "proj/.git/HEAD"])
        #expect(log.status == 0 && log.stdout.contains("proj/.git/HEAD"), "\(log)")
        let before = try b.node.git(id, "rev-parse HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try b.node.sh("rm -rf '\(pb)/proj/.git' '\(pb)/odd'")
        #expect(try b.commit(pb).status == 0)
        for path in ["proj/.git", "odd"] {
            let restored = try b.node.run("sync-restore", [pb + "/" + path, "--at", before])
            #expect(restored.status == 0, "\(path): \(restored)")
        }
        let (ca, cb) = (try contents(pa), try contents(pb))
        #expect(ca == cb, "\(Set(ca.split(separator: "\n")).symmetricDifference(cb.split(separator: "\n")))")
        #expect(try b.node.sh("cd '\(pb)/proj' && git status --porcelain && git log --format=%H%s").stdout == there.stdout)
    }

    /// C may pull from A, A may not pull from C: C's pull ends well (no offer A cannot take). Between
    /// nodes allowed both ways, what the peer's pull of ours refused reaches the user who pulled.
    @Test func aOneWayAllowPullsCleanlyAndTheOfferedPullReportsItsProblems() throws {
        let (a, b, id, pa, pb) = try pair()
        let c = try PeerNode()
        let pc = try c.join("c", id: id)
        try a.allow(c, id) // and C does not allow A
        try a.node.sh("echo from-a > '\(pa)/a.txt'")
        #expect(try a.commit(pa).status == 0)
        try c.node.sh("echo from-c > '\(pc)/c.txt'")
        #expect(try c.commit(pc).status == 0)
        let pulled = try c.pull(a, id)
        #expect(pulled.status == 0, "\(pulled)")
        #expect(!pulled.stderr.contains("link closed") && !pulled.stderr.contains("offer"), "\(pulled)")
        #expect(FileManager.default.fileExists(atPath: pc + "/a.txt"))
        #expect(!FileManager.default.fileExists(atPath: pa + "/c.txt"))

        // A ignores *.tmp: its pull of B's offer refuses b.tmp, and B is told.
        #expect(try a.node.run("sync-config", [id, "ignore", "*.tmp"]).status == 0)
        try b.node.sh("echo x > '\(pb)/b.tmp' && echo y > '\(pb)/b.txt'")
        #expect(try b.commit(pb).status == 0)
        let offered = try b.pull(a, id)
        #expect(offered.status == 0, "\(offered)")
        #expect(offered.stderr.contains("its pull of ours: folder \(id): refused b.tmp from peer: ignored here"), "\(offered)")
        #expect(FileManager.default.fileExists(atPath: pa + "/b.txt"))
        // A, which ran that pull in its sync-serve, has it in its own log.
        let log = (try? String(contentsOfFile: a.node.stateDir + "/log/sync-serve.log", encoding: .utf8)) ?? ""
        #expect(log.contains("on its offer: 1 changes") && log.contains("refused b.tmp from peer: ignored here"), "\(log)")
    }
}
