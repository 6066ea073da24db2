import Foundation
import Testing
@testable import SyncCommands

@Suite(.serialized) struct CommandLineTests {
    @Test func syncWithNoArgumentsFlushesSilently() throws {
        let node = try Node()
        let r = try node.run("sync", [])
        #expect(r.status == 0)
        #expect(r.stdout.isEmpty && r.stderr.isEmpty, "\(r)")
        // coreutils forms still work too.
        #expect(try node.run("sync", ["-f", node.base]).status == 0)
        #expect(try node.run("sync", [node.base]).status == 0)
    }

    @Test func everyCommandHasHelpAndTheDispatcherFindsIt() throws {
        let node = try Node()
        for c in Toolkit.commands {
            let name = c.configuration.commandName!
            let r = try node.run(name, ["--help"])
            #expect(r.status == 0 && r.stdout.contains("USAGE"), "\(name): \(r)")
            let bad = try node.run(name, ["--no-such-option"])
            #expect(bad.status == 2, "\(name): a usage error exits 2: \(bad)")
        }
        let h = try node.run("sync", ["help", "commit"], stdin: nil)
        #expect(h.status == 0 && h.stdout.contains("sync-commit"), "\(h)")
        let unknown = try node.run("sync", ["frobnicate"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("frobnicate") && unknown.stderr.contains("commit"), "\(unknown)")
        #expect(!unknown.stderr.contains(".product"))
        // A slip of the keyboard gets the nearest commands; `up` is among the known ones.
        let slip = try node.run("sync", ["upp"])
        #expect(slip.status == 2 && slip.stderr.contains("Did you mean 'up'?") && slip.stderr.contains(" up,"), "\(slip)")
        #expect(try node.run("sync", ["statsu"]).stderr.contains("Did you mean 'status'?"))
        // The dispatcher passes its arguments through.
        let v = try node.run("sync", ["folders"])
        #expect(v.status == 0 && v.stdout.isEmpty)
    }

    @Test func badInputsGetOneLineErrorsAndWriteNothing() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        try node.write(a + "/inner/f", "x")
        try node.write(node.base + "/plain", "not a directory")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        _ = try FileManager.default.createDirectory(atPath: node.stateDir + "/sub", withIntermediateDirectories: true)
        _ = try FileManager.default.createDirectory(atPath: node.base + "/other", withIntermediateDirectories: true)
        let before = try node.stateSnapshot()
        let bad: [(String, [String])] = [
            ("sync-init", [node.base + "/missing"]),
            ("sync-init", [node.base + "/plain"]),
            ("sync-init", [a]),
            ("sync-init", [a + "/inner"]),
            ("sync-init", [node.base]),
            ("sync-init", [node.stateDir]),
            ("sync-init", [node.stateDir + "/sub"]),
            ("sync-init", []),
            ("sync-commit", ["nosuchfolder"]),
            ("sync-commit", [aid, "../escape"]),
            ("sync-config", [aid, "no.such.key"]),
            ("sync-config", [aid, "path", "/elsewhere"]),
            ("sync-config", [aid, "debounce.quiet", "soon"]),
            ("sync-config", [aid, "history.max-blob", "lots"]),
            ("sync-log", ["nosuchfolder"]),
            ("sync-log", [aid, "../x"]),
            ("sync-show", ["--folder", aid, "0000000000000000000000000000000000000000"]),
            ("sync-show", ["--folder", aid, "nonsense~~"]),
            ("sync-restore", [node.base + "/plain"]),
            ("sync-restore", [a + "/inner/f", "--at", "the day before yesterday"]),
            ("sync-restore", [a + "/never-existed"]),
            ("sync-status", ["nosuchfolder"]),
            ("sync-watch", ["nosuchfolder"]),
            ("sync", ["--sync-dir"]),
            ("sync-init", ["--id", aid, node.base + "/other"]),
            ("sync-pull", ["127.0.0.1:aaaaaaaaaaaaaaaa"]),
            ("sync-keys", ["allow", aid, "ssh-ed25519 not-base64 x"]),
            ("sync-keys", ["allow", aid, node.base + "/plain"]),
            ("sync-keys", ["deny", aid, String(repeating: "a", count: 52)]),
            ("sync-keys", ["list", "nosuchfolder"]),
            ("sync-keys", ["invite", aid, "--host-key", node.base + "/plain"]),
            ("sync-keys", ["invite", aid, "--host-key", node.base + "/no-such-key.pub"]),
            ("sync-keys", ["invite", "nosuchfolder"]),
            ("sync-conflicts", ["nosuchfolder"]),
            ("sync-versions", [node.base + "/plain"]),
            ("sync-versions", [a]),
            ("sync-diff", ["--folder", aid, "0123abcd"]),
            ("sync-diff", ["--folder", "nosuchfolder", "HEAD"]),
            ("sync-peer", ["add", aid, "127.0.0.1:aaaaaaaaaaaaaaaa"]),
            ("sync-peer", ["add", aid, "bad host!"]),
            ("sync-peer", ["remove", aid, "host.example"]),
            ("sync-peer", ["list", "nosuchfolder"]),
            ("sync-notify", ["nosuchfolder"]),
            ("sync-pull", ["--follow", "127.0.0.1:aaaaaaaaaaaaaaaa"]),
            ("sync-confirm", ["nosuchfolder"]),
            ("sync-config", [aid, "guard.deletions", "half"]),
            ("sync-config", [aid, "guard.deletions", "150%"]),
            ("sync-config", [aid, "guard.min-deletions", "0"]),
            ("sync-config", [aid, "peer", "not a remote"]),
            ("sync-prune", ["nosuchfolder"]),
            ("sync-config", [aid, "history.keep-within", "soon"]),
            ("sync-config", [aid, "history.keep-last", "0"]),
            ("sync-config", [aid, "history.max-size", "big"]),
            ("sync-config", [aid, "history.thin", "yes"]),
            ("sync-config", [aid, "history.prune-every", "0s"]),
            ("sync-config", [aid, "tombstones.keep-within", "never"]),
        ]
        for (tool, args) in bad {
            let r = try node.run(tool, args)
            #expect(r.status != 0, "\(tool) \(args) should fail: \(r)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count >= 1, "\(tool) \(args): no message")
            #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"), "\(tool) \(args): \(r)")
            if tool != "sync-init" || !args.isEmpty {
                // Usage errors print usage; every other error is exactly one line naming the problem.
                #expect(lines.count == 1, "\(tool) \(args): \(r.stderr)")
            }
            #expect(r.stdout.isEmpty, "\(tool) \(args) wrote to stdout: \(r.stdout)")
            let after = try node.stateSnapshot()
            #expect(after == before, "\(tool) \(args) changed the state directory")
            if after != before { break }
        }
        // Usage errors: status 2, one line `tool: problem (see 'tool --help')`, nothing written.
        let usage: [(String, [String])] = [
            ("sync-init", ["--id", "NOT-AN-ID", node.base + "/other"]),
            ("sync-pull", ["no-colon-here"]),
            ("sync-pull", ["host:not-a-folder-id"]),
            ("sync-pull", ["ssh://host:99999/" + aid]),
            ("sync-pull", ["-oProxyCommand=x:" + aid]),
            ("sync-keys", ["allow", aid]),
            ("sync-keys", ["grant", aid, "k"]),
            ("sync-serve", ["--peer", "not-a-node-id"]),
            ("sync-serve", []),
            ("sync-serve", ["--peer", String(repeating: "a", count: 52), "--invite", String(repeating: "b", count: 52)]),
            ("sync-serve", ["--peer", String(repeating: "a", count: 52), "--authorized-keys", "/x"]),
            ("sync-keys", ["invite", aid, "--expires", "never"]),
            ("sync-keys", ["invite", aid, "--address", "-oProxyCommand=x"]),
            ("sync-keys", ["invite", aid, "extra"]),
            ("sync-keys", ["list", aid, "--address", "host"]),
            ("sync-join", ["not-a-token", node.base + "/joined"]),
            ("sync-log", [aid, "--until", "someday"]),
            ("sync-diff", ["--folder", aid]),
            ("sync-diff", ["--folder", aid, "HEAD", "HEAD", "x", "y"]),
            ("sync-join", ["sync-invite-1:e30", node.base + "/joined"]),
            ("sync-peer", ["add", aid]),
            ("sync-peer", ["add", aid, "-oProxyCommand=x"]),
            ("sync-peer", ["list", aid, "host"]),
            ("sync-peer", ["add", aid, "host", "--json"]),
            ("sync-daemon", ["--retry-max", "soon"]),
            ("sync-pull", ["--follow", "--dry-run", "host:" + aid]),
            ("sync-confirm", []),
            ("sync-daemon", ["--stop-timeout", "later"]),
            ("sync-prune", ["--keep-last", "0", aid]),
            ("sync-prune", ["--keep-within", "soon", aid]),
            ("sync-prune", ["--max-size", "lots", aid]),
            ("sync-prune", ["--forget-peer", "not-a-node", aid]),
            ("sync-status", ["--watch", "--interval", "2h"]),
            ("sync-status", ["--watch", "--interval", "10ms"]),
            ("sync-status", ["--interval", "5s"]),
            ("sync-status", ["--watch", "--json"]),
            ("sync-keys", ["name", "a", "b"]),
        ]
        for (tool, args) in usage {
            let r = try node.run(tool, args)
            #expect(r.status == 2, "\(tool) \(args): \(r)")
            #expect(r.stderr.hasPrefix("\(tool): ") && r.stderr.hasSuffix(" (see '\(tool) --help')\n")
                    && r.stderr.split(separator: "\n").count == 1, "\(tool) \(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(tool) \(args) wrote to stdout: \(r.stdout)")
            #expect(try node.stateSnapshot() == before, "\(tool) \(args) changed the state directory")
        }
        #expect(try node.run("sync-folders", []).lines.count == 1)
    }

    @Test func versionsListEveryKeptVersionAndLogFiltersByTime() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        try node.write(a + "/doc.txt", "one\n")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        Thread.sleep(forTimeInterval: 1.2)
        let middle = Int(Date().timeIntervalSince1970)
        Thread.sleep(forTimeInterval: 1.1)
        try node.write(a + "/doc.txt", "two, longer\n")
        try node.write(a + "/other.txt", "x")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        try FileManager.default.removeItem(atPath: a + "/doc.txt")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        try node.write(a + "/doc.txt", "three\n")
        #expect(try node.run("sync-commit", [aid]).status == 0)

        let v = try node.run("sync-versions", [a + "/doc.txt"])
        #expect(v.status == 0, "\(v)")
        let rows = v.lines.map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.map { $0[2] } == ["A", "D", "M", "A"], "\(v.stdout)")
        #expect(rows.map { $0[3] } == ["6", "-", "12", "4"], "\(v.stdout)")
        #expect(rows.map { $0[4] } == ["history", "deleted", "history", "history"])
        // Each listed version comes back as it was.
        #expect(try node.run("sync-show", ["--folder", aid, rows[2][1] + ":doc.txt"]).stdout == "two, longer\n")
        let json = try node.run("sync-versions", ["--json", "--folder", aid, "doc.txt"])
        #expect(json.status == 0 && json.stdout.contains("\"kept\" : \"deleted\""), "\(json)")
        // A directory, the folder itself: errors, not lists.
        #expect(try node.run("sync-versions", [a]).status == 1)
        // A path never recorded: said so, not an empty list.
        let never = try node.run("sync-versions", ["--folder", aid, "never.txt"])
        #expect(never.status == 1 && never.stdout.isEmpty && never.stderr.contains("never.txt (never recorded in folder \(aid)): not found"), "\(never)")
        // --since/--until split the history at `middle`: the first commit before, the rest after.
        let before = try node.run("sync-log", [aid, "--until", "@\(middle)"])
        let after = try node.run("sync-log", [aid, "--since", "@\(middle)"])
        #expect(before.lines.count == 1 && before.stdout.contains("A doc.txt"), "\(before)")
        #expect(after.lines.count == 3, "\(after)")
        let pathAfter = try node.run("sync-log", [aid, "other.txt", "--since", "@\(middle)"])
        #expect(pathAfter.lines.count == 1, "\(pathAfter)")
        #expect(try node.run("sync-log", [aid, "--since", "1 w ago"]).lines.count == 4)
        let bad = try node.run("sync-log", [aid, "--since", "yesterdayish"])
        #expect(bad.status == 2 && bad.stderr.contains("--since yesterdayish: not a time"), "\(bad)")
    }

    @Test func diffShowsTextChangesAndSizesOfBinaries() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        try node.write(a + "/notes/todo.txt", "one\ntwo\nthree\n")
        try node.write(a + "/other.txt", "same\n")
        try Data([0, 1, 2, 3]).write(to: URL(fileURLWithPath: a + "/bin.dat"))
        #expect(try node.run("sync-commit", [aid]).status == 0)
        try node.write(a + "/notes/todo.txt", "one\n2\nthree\n")
        try node.write(a + "/other.txt", "changed\n")
        try Data([0, 1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: a + "/bin.dat"))
        #expect(try node.run("sync-commit", [aid]).status == 0)

        let last = try node.run("sync-diff", ["--folder", aid, "HEAD"])
        #expect(last.status == 0, "\(last)")
        #expect(last.stdout.contains("--- a/notes/todo.txt\n+++ b/notes/todo.txt\n"), "\(last.stdout)")
        #expect(last.stdout.contains("\n-two\n+2\n"), "\(last.stdout)")
        #expect(last.stdout.contains("Binary files a/bin.dat and b/bin.dat differ (4 -> 6 bytes)"), "\(last.stdout)")
        // Limited to a directory; and two revisions.
        let one = try node.run("sync-diff", ["--folder", aid, "HEAD", "notes"])
        #expect(one.status == 0 && one.stdout.contains("todo.txt") && !one.stdout.contains("other.txt"), "\(one)")
        let both = try node.run("sync-diff", ["--folder", aid, "HEAD~1", "HEAD", "other.txt"])
        #expect(both.stdout.contains("-same\n+changed\n") && !both.stdout.contains("todo"), "\(both)")
        // The first commit against nothing: everything added.
        let first = try node.run("sync-diff", ["--folder", aid, "HEAD~1"])
        #expect(first.stdout.contains("+++ b/notes/todo.txt") && first.stdout.contains("--- /dev/null"), "\(first)")
        // Nothing between a commit and itself; unknown revisions fail.
        #expect(try node.run("sync-diff", ["--folder", aid, "HEAD", "HEAD"]).stdout == "")
        let bad = try node.run("sync-diff", ["--folder", aid, "0123abcd"])
        #expect(bad.status == 1 && bad.stderr.contains("0123abcd"), "\(bad)")
        #expect(try node.run("sync-diff", ["--folder", aid]).status == 2)
    }

    @Test func onePeerUnderTwoSpellingsIsOnePeer() throws {
        let node = try Node()
        let (_, id) = try node.folder("a")
        try "Host desk\n    HostName 127.0.0.1\n    User me\n".write(toFile: node.base + "/ssh_config", atomically: true, encoding: .utf8)
        node.extraEnvironment["SYNC_SSH_CONFIG"] = node.base + "/ssh_config"
        node.extraEnvironment["USER"] = "root"
        #expect(try node.run("sync-peer", ["add", id, "desktop:\(id)"]).lines == ["added ssh://desktop/\(id)"])
        // The user and port that would be dialed anyway: the same peer.
        let same = try node.run("sync-peer", ["add", id, "root@desktop:22"])
        #expect(same.status == 0 && same.lines == ["unchanged ssh://desktop/\(id) (the same peer as ssh://root@desktop:22/\(id))"], "\(same)")
        // ~/.ssh/config's alias for 127.0.0.1 with user me, and that address spelled out.
        #expect(try node.run("sync-peer", ["add", id, "desk:\(id)"]).lines == ["added ssh://desk/\(id)"])
        #expect(try node.run("sync-peer", ["add", id, "me@127.0.0.1"]).lines.first?.hasPrefix("unchanged ssh://desk/") == true)
        // Another port or user is another peer.
        #expect(try node.run("sync-peer", ["add", id, "desktop:2222"]).lines == ["added ssh://desktop:2222/\(id)"])
        #expect(try node.run("sync-peer", ["add", id, "other@desktop"]).lines == ["added ssh://other@desktop/\(id)"])
        #expect(try node.run("sync-config", [id, "peer"]).lines.count == 4)
    }

    @Test func forgetUnregistersAFolderAndKeepsItsFilesAndHistory() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        let (b, bid) = try node.folder("b")
        try node.write(a + "/keep.txt", "kept")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        let forgot = try node.run("sync", ["forget", a])
        #expect(forgot.status == 0 && forgot.lines.first == "forgot \(aid) \(a)", "\(forgot)")
        let kept = String(forgot.lines.last!.dropFirst("history kept in ".count))
        // The files stay; the folder is gone from this node; its history reads with plain git.
        #expect(try String(contentsOfFile: a + "/keep.txt", encoding: .utf8) == "kept")
        #expect(try node.run("sync-folders", []).lines.map { $0.split(separator: "\t")[0] } == [Substring(bid)])
        let log = try node.sh("git --git-dir='\(kept)/history.git' log --stat --format=%s")
        #expect(log.status == 0 && log.stdout.contains("keep.txt"), "\(log)")
        let again = try node.run("sync-forget", [aid])
        #expect(again.status == 1 && again.stderr == "sync-forget: folder \(aid): not found\n", "\(again)")
        // The directory can be registered again, under its old id too.
        #expect(try node.run("sync-init", ["--id", aid, a]).status == 0)
        // --drop-history leaves nothing of the folder in the state directory.
        let dropped = try node.run("sync-forget", ["--drop-history", b])
        #expect(dropped.lines == ["forgot \(bid) \(b)", "history removed"], "\(dropped)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: node.stateDir + "/forgotten").allSatisfy { !$0.hasPrefix(bid) })
        #expect(FileManager.default.fileExists(atPath: b))
    }

    @Test func twoFoldersOnOneNodeAreKeptApart() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        let (b, bid) = try node.folder("b")
        #expect(aid != bid)
        try node.write(a + "/only-a", "a")
        try node.write(b + "/only-b", "b")
        try node.write(b + "/shared-name", "b's")
        try node.write(a + "/shared-name", "a's")
        // A debounce setting on one folder only.
        #expect(try node.run("sync-config", [aid, "debounce.quiet", "1s"]).status == 0)
        #expect(try node.run("sync-config", [aid, "debounce.quiet"]).stdout == "1s\n")
        #expect(try node.run("sync-config", [bid, "debounce.quiet"]).stdout == "200ms\n")
        let ca = try node.run("sync-commit", [aid])
        #expect(ca.lines.count == 1 && ca.lines[0].hasPrefix(aid + " 2 "), "\(ca)")
        let cb = try node.run("sync-commit", [b])
        #expect(cb.lines.count == 1 && cb.lines[0].hasPrefix(bid + " 2 "), "\(cb)")
        let la = try node.run("sync", ["log", aid])
        #expect(la.stdout.contains("only-a") && !la.stdout.contains("only-b"), "\(la)")
        let lb = try node.run("sync", ["log", "b"])
        #expect(lb.stdout.contains("only-b") && !lb.stdout.contains("only-a"), "\(lb)")
        #expect(try node.run("sync-show", ["--folder", aid, "HEAD:shared-name"]).stdout == "a's")
        #expect(try node.run("sync-show", ["--folder", bid, "HEAD:shared-name"]).stdout == "b's")

        // Listing and status, text and JSON.
        let folders = try node.run("sync-folders", ["--json"])
        let list = try JSONSerialization.jsonObject(with: Data(folders.stdout.utf8)) as? [[String: Any]]
        #expect(Set(list?.compactMap { $0["id"] as? String } ?? []) == [aid, bid])
        let status = try node.run("sync-status", ["--json", aid])
        let st = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]
        #expect(st?.first?["files"] as? Int == 2)
        #expect(st?.first?["pending"] as? Int == 0)
        try node.write(a + "/new", "n")
        let text = try node.run("sync-status", [])
        #expect(text.stdout.contains(a) && text.stdout.contains(b), "\(text)")
        #expect(text.stdout.contains("pending:     1"), "\(text)")
        // A path inside a folder names that folder, as for sync log.
        try FileManager.default.createDirectory(atPath: a + "/sub/dir", withIntermediateDirectories: true)
        let inside = try node.run("sync-status", [a + "/sub/dir"])
        #expect(inside.status == 0 && inside.stdout.contains("folder \(aid)") && !inside.stdout.contains(b), "\(inside)")

        // Plain git reads each history.
        if have("git") {
            let g = try node.git(aid, "log --format=%s%n%b")
            #expect(g.status == 0 && g.stdout.contains("A only-a") && g.stdout.contains("Sync-Folder: \(aid)"), "\(g)")
            #expect(try node.git(bid, "ls-tree -r --name-only HEAD").lines == ["only-b", "shared-name"])
            #expect(try node.git(aid, "fsck --strict").status == 0)
        }
    }

    @Test func recordsEveryKindOfChange() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        try node.write(a + "/doc.txt", "one")
        try node.write(a + "/deep/er/still/x", "x")
        try node.write(a + "/empty-file", "")
        try node.write(a + "/run.sh", "#!/bin/sh\n")
        try FileManager.default.createDirectory(atPath: a + "/empty-dir", withIntermediateDirectories: true)
        symlink("doc.txt", a + "/link")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        try node.write(a + "/doc.txt", "two")
        chmod(a + "/run.sh", 0o755)
        rename(a + "/deep/er/still/x", a + "/moved")
        unlink(a + "/empty-file")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        let log = try node.run("sync-log", [aid, "--json"])
        let entries = try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(entries.count == 2)
        let latest = (entries.first?["changes"] as? [[String: Any]] ?? []).map { c in
            "\(c["status"]!) \(c["from"].map { "\($0) -> " } ?? "")\(c["path"]!)"
        }
        #expect(latest.sorted() == ["D empty-file", "M doc.txt", "M run.sh", "R deep/er/still/x -> moved"], "\(log)")
        if have("git") {
            let tree = try node.git(aid, "ls-tree -r -t HEAD").stdout
            #expect(tree.contains("100755 blob") && tree.contains("run.sh"))
            #expect(tree.contains("120000 blob") && tree.contains("link"))
            #expect(tree.contains("040000 tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\tempty-dir"))
            #expect(try node.worktreeMatchesHead(aid, a).stdout == "")
        }
        // Path-filtered log and show of an old version.
        let docLog = try node.run("sync", ["log", aid, "doc.txt"])
        #expect(docLog.lines.count == 2, "\(docLog)")
        let old = try node.run("sync", ["show", "--folder", aid, "HEAD~1:doc.txt"])
        #expect(old.stdout == "one", "\(old)")
        // Restore brings the old version back as a new change; the newer one stays in history.
        let r = try node.run("sync", ["restore", a + "/doc.txt", "--at", "HEAD~1"])
        #expect(r.status == 0, "\(r)")
        #expect(try String(contentsOfFile: a + "/doc.txt", encoding: .utf8) == "one")
        #expect(try node.run("sync", ["show", "--folder", aid, "HEAD~1:doc.txt"]).stdout == "two")
        #expect(try node.run("sync", ["log", aid, "doc.txt"]).lines.count == 3)
    }

    @Test func oddNamesAndTenThousandFiles() throws {
        let node = try Node()
        let (a, aid) = try node.folder("many")
        let odd = ["with space", "new\nline", "tab\there", "ünïcödé-名前", "quote\"and\\back", " lead", "-dash", "#hash"]
        for (i, name) in odd.enumerated() { try node.write(a + "/odd/" + name, "odd \(i)") }
        #expect(try node.run("sync-commit", [aid]).status == 0)
        let log = try node.run("sync-log", [aid, "--json"])
        let changes = ((try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]])?.first?["changes"] as? [[String: Any]]) ?? []
        let paths = Set(changes.compactMap { $0["path"] as? String })
        for name in odd { #expect(paths.contains("odd/" + name), "\(name)") }
        for i in 0..<10_000 { try node.write(a + "/d\(i / 100)/f\(i)", "file \(i)\n") }
        let r = try node.run("sync-commit", [aid])
        #expect(r.status == 0 && r.lines.count == 1, "\(r)")
        #expect(try node.run("sync-commit", [aid]).stdout.isEmpty, "a second scan finds nothing")
        let status = try JSONSerialization.jsonObject(with: Data(try node.run("sync-status", ["--json", aid]).stdout.utf8)) as? [[String: Any]]
        #expect(status?.first?["files"] as? Int == 10_000 + odd.count)
        let big = try node.run("sync-log", [aid, "--json", "-n", "1"])
        let first = (try JSONSerialization.jsonObject(with: Data(big.stdout.utf8)) as? [[String: Any]])?.first
        #expect(first?["changeCount"] as? Int == 10_000)
        // The plain log keeps one line per commit even with a newline in a name.
        #expect(try node.run("sync-log", [aid, "odd/new\nline"]).lines.count == 1)
        if have("git") {
            #expect(try node.git(aid, "ls-tree -r HEAD").lines.count == 10_000 + odd.count)
            #expect(try node.worktreeMatchesHead(aid, a).stdout == "")
        }
        // Delete a thousand and commit: exactly those go.
        try FileManager.default.removeItem(atPath: a + "/d0")
        for i in 100..<1000 { unlink(a + "/d\(i / 100)/f\(i)") }
        #expect(try node.run("sync-commit", [aid]).status == 0)
        if have("git") { #expect(try node.git(aid, "ls-tree -r HEAD").lines.count == 9_000 + odd.count) }
    }

    @Test func ignorePatternsFromConfigAndSyncignore() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        #expect(try node.run("sync-config", ["--add", aid, "ignore", "*.log"]).status == 0)
        try node.write(a + "/.syncignore", "cache/\n")
        try node.write(a + "/keep", "k")
        try node.write(a + "/x.log", "l")
        try node.write(a + "/cache/big", "c")
        try node.write(a + "/.sync-tmp-abc", "partial")
        #expect(try node.run("sync-commit", [aid]).status == 0)
        let files = try node.run("sync-show", ["--folder", aid, "HEAD:"]).lines.map { $0.split(separator: "\t").last! }
        #expect(files == [".syncignore", "keep"], "\(files)")
        #expect(try node.run("sync-config", ["--unset", aid, "ignore", "*.log"]).status == 0)
        #expect(try node.run("sync-commit", [aid]).status == 0)
        #expect(try node.run("sync-show", ["--folder", aid, "HEAD:"]).lines.map { $0.split(separator: "\t").last! }
                == [".syncignore", "keep", "x.log"])
    }

    @Test func anUnreadableFileIsReportedAndTheRestCommits() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        try node.write(a + "/fine", "ok")
        try node.write(a + "/secret", "no")
        chmod(a + "/secret", 0)
        var tool = binDirectory + "/sync-commit"
        var args = [aid]
        if getuid() == 0 {
            // Root reads everything: run as nobody over a tree nobody owns.
            guard have("setpriv") else { return }
            #expect(try node.sh("chown -R 65534:65534 '\(node.base)'").status == 0)
            chmod(node.base, 0o755)
            args = ["--reuid=65534", "--regid=65534", "--clear-groups", tool, aid]
            tool = "/usr/bin/setpriv"
        }
        let r = try Node.execute(tool, args, environment: node.environment, stdin: nil, timeout: 120)
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("secret") && r.stderr.contains("ermission denied"), "\(r)")
        #expect(r.lines.count == 1, "\(r)")
        #expect(try node.run("sync-show", ["--folder", aid, "HEAD:"]).lines.map { $0.split(separator: "\t").last! } == ["fine"])
    }

    @Test func aFileRewrittenWhileHashedIsNeverRecordedTorn() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        let path = a + "/hot"
        let size = 8 << 20
        try Data(repeating: 0, count: size).write(to: URL(fileURLWithPath: path))
        // A writer rewrites the file in place, one uniform byte value per version.
        let stop = Flag()
        let writer = Thread {
            let fd = open(path, O_WRONLY)
            var v: UInt8 = 1
            let chunk = [UInt8](repeating: 0, count: 1 << 16)
            while !stop.isSet {
                var c = chunk
                for i in c.indices { c[i] = v }
                var off = 0
                while off < size { off += pwrite(fd, c, c.count, off_t(off)) }
                v = v == 255 ? 1 : v + 1
            }
            close(fd)
            stop.done()
        }
        writer.start()
        for _ in 0..<5 { _ = try node.run("sync-commit", [aid]) }
        stop.set()
        stop.waitDone()
        _ = try node.run("sync-commit", [aid])
        guard have("git") else { return }
        // Every recorded version is one the writer finished, and the last is what is on disk.
        let versions = try node.git(aid, "log --format=%H -- hot").lines
        #expect(!versions.isEmpty)
        for c in versions {
            let distinct = try node.sh("git --git-dir='\(node.historyDirectory(aid))' cat-file blob \(c):hot | od -An -v -tu1 | tr -s ' ' '\\n' | sort -u | grep -c .").stdout
            #expect(distinct.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "commit \(c) recorded a torn file")
        }
        let disk = try node.sh("git hash-object '\(path)'").stdout
        let head = try node.git(aid, "rev-parse HEAD:hot").stdout
        #expect(disk == head)
    }

    @Test func killedMidCommitThenRerunIsConsistent() throws {
        let node = try Node()
        let (a, aid) = try node.folder("a")
        for i in 0..<6000 { try node.write(a + "/d\(i % 60)/f\(i)", String(repeating: "\(i)", count: 200)) }
        for i in 0..<8 { try Data(repeating: UInt8(i), count: 4 << 20).write(to: URL(fileURLWithPath: a + "/big\(i)")) }
        // Kill at a spread of moments; change the tree between kills.
        for (round, delay) in [0.05, 0.2, 0.4, 0.8, 1.2].enumerated() {
            _ = try node.killed("sync-commit", [aid], after: delay)
            try node.write(a + "/round\(round)", "round \(round)")
            unlink(a + "/d\(round)/f\(round)")
        }
        let r = try node.run("sync-commit", [aid])
        #expect(r.status == 0, "\(r)")
        #expect(try node.run("sync-commit", [aid]).stdout.isEmpty)
        let status = try JSONSerialization.jsonObject(with: Data(try node.run("sync-status", ["--json", aid]).stdout.utf8)) as? [[String: Any]]
        #expect(status?.first?["pending"] as? Int == 0)
        #expect(status?.first?["files"] as? Int == 6000 + 8 + 5 - 5)
        if have("git") {
            #expect(try node.worktreeMatchesHead(aid, a).stdout == "")
            let fsck = try node.git(aid, "fsck")
            #expect(fsck.status == 0, "\(fsck)")
        }
    }
}

/// A flag shared with a writer thread.
final class Flag: @unchecked Sendable {
    private let lock = NSCondition()
    private var value = false
    private var finished = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
    func done() { lock.lock(); finished = true; lock.broadcast(); lock.unlock() }
    func waitDone() { lock.lock(); while !finished { lock.wait() }; lock.unlock() }
}
