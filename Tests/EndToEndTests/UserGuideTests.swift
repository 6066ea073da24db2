import Foundation
import Testing
import SyncTestSupport

/// The README's user guide, followed on three machines (desktop, laptop, nas) as a new user would:
/// the commands as printed there, through the `sync` dispatcher, each one's output checked. Each
/// machine's sshd listens on a port of its own with a host key of its own, which the invite finds
/// in its sshd_config (no --host-key, no port given).
@Suite(.serialized, .enabled(if: PeerNode.available)) struct UserGuideTests {
    @Test func threeMachinesFollowTheGuide() throws {
        let desktop = try PeerNode(), laptop = try PeerNode(), nas = try PeerNode()
        let machines = [("desktop", desktop), ("laptop", laptop), ("nas", nas)]
        defer { for (_, m) in machines { m.down() } }
        for (name, m) in machines {
            m.node.extraEnvironment["SYNC_SSHD_CONFIG"] = m.sshdDirectory + "/sshd_config"
            #expect(try m.node.run("sync", ["keys", "name", name]).lines == [name])
        }

        // Putting folders under sync.
        let shared = desktop.node.base + "/Shared"
        try desktop.node.write(shared + "/report.txt", "draft\n")
        try desktop.node.write(shared + "/photos/beach.jpg", String(repeating: "jpeg", count: 5000))
        let registered = try desktop.node.run("sync", ["init", shared])
        #expect(registered.status == 0 && registered.lines.count == 1, "\(registered)")
        let id = registered.lines[0]
        #expect(try desktop.node.run("sync", ["folders"]).lines == ["\(id)\tok\t\(shared)"])

        // Two machines (and a third): one command on each pairs them; the first pull brings the folder.
        var remotes: [String: String] = [:]
        for (name, m) in [("laptop", laptop), ("nas", nas)] {
            let invite = try desktop.node.run("sync", ["keys", "invite", shared, "--address", "root@127.0.0.1"])
            #expect(invite.status == 0 && invite.lines.count == 1 && invite.lines[0].hasPrefix("sync-invite-1:"), "\(invite)")
            #expect(invite.stderr.contains("for ssh://root@127.0.0.1:\(desktop.port)/\(id), usable once until "), "\(invite)")
            if name == "laptop" { #expect(invite.stderr.contains(": recorded ") && invite.stderr.contains(" changes first"), "\(invite)") }
            let path = m.node.base + "/Shared"
            let joined = try m.node.run("sync", ["join", invite.lines[0], path])
            #expect(joined.status == 0 && joined.lines == [id, "ssh://root@127.0.0.1:\(desktop.port)/\(id)"], "\(joined)")
            remotes[name] = joined.lines[1]
            let pulled = try m.node.run("sync", ["pull", joined.lines[1]])
            #expect(pulled.status == 0 && pulled.lines.contains("A report.txt") && pulled.lines.last?.hasPrefix("\(id) ") == true, "\(pulled)")
            #expect(try String(contentsOfFile: path + "/report.txt", encoding: .utf8) == "draft\n")
            #expect(try m.node.run("sync", ["peer", "list"]).lines == ["\(id) \(joined.lines[1]) idle"])
        }

        // Live: a change on the laptop reaches the nas through the desktop (they never meet).
        for (_, m) in machines { try m.up() }
        try laptop.node.write(laptop.node.base + "/Shared/notes.txt", "from the laptop\n")
        #expect(waitFor(30) { (try? String(contentsOfFile: nas.node.base + "/Shared/notes.txt", encoding: .utf8)) == "from the laptop\n" },
                "laptop: \(laptop.log)\ndesktop: \(desktop.log)\nnas: \(nas.log)")

        // The log says where a change was made, and which peer brought it: the laptop made it, the
        // desktop pulled it from there, the nas from the desktop.
        let desktopLog = try desktop.node.run("sync", ["log", shared])
        #expect(desktopLog.lines.first?.hasSuffix("\tA notes.txt (made on laptop)") == true, "\(desktopLog)")
        #expect(desktopLog.lines.last?.contains("(made on") == false, "\(desktopLog)")
        // The nas never met the laptop: it names it by the start of its id.
        let laptopID = String(try laptop.node.run("sync", ["keys", "id"]).lines[0].prefix(8))
        let nasLog = try nas.node.run("sync", ["log", nas.node.base + "/Shared", "notes.txt"])
        #expect(nasLog.lines.count == 1 && nasLog.lines[0].hasSuffix("\tA notes.txt (made on \(laptopID), from desktop)"), "\(nasLog)")
        // Its versions are listed from the laptop's own history, which came with the desktop's
        // (once: the copy the pull brought is the same version).
        let versions = try nas.node.run("sync", ["versions", nas.node.base + "/Shared/notes.txt"])
        #expect(versions.lines.count == 1 && versions.lines[0].hasSuffix("\tA\t16\thistory (made on \(laptopID))"), "\(versions)")

        // "Am I in sync?": a word per folder, and every peer by its name, one line each.
        var statuses = ["": ""]
        let allInSync = waitFor(30) {
            statuses = Dictionary(uniqueKeysWithValues: machines.map { ($0.0, (try? $0.1.node.run("sync", ["status", id]).stdout) ?? "") })
            return statuses.values.allSatisfy { $0.hasPrefix("folder \(id) (Shared): in sync\n") }
        }
        #expect(allInSync, "\(statuses)")
        let desktopPeers = (statuses["desktop"] ?? "").split(separator: "\n").filter { $0.hasPrefix("  peer:") }
        #expect(desktopPeers.count == 2 && desktopPeers.contains { $0.hasPrefix("  peer:        laptop (it dialed) up since ") && $0.hasSuffix(", in sync") }
                && desktopPeers.contains { $0.hasPrefix("  peer:        nas (it dialed) up since ") }, "\(statuses["desktop"] ?? "")")
        #expect((statuses["laptop"] ?? "").contains("  peer:        desktop (\(remotes["laptop"]!)) up since "), "\(statuses["laptop"] ?? "")")
        // -v gives the ids beside the names.
        let desktopID = try desktop.node.run("sync", ["keys", "id"]).lines[0]
        let verbose = try laptop.node.run("sync", ["status", "-v", id])
        #expect(verbose.stdout.contains("  peer:        desktop [node \(desktopID)] (\(remotes["laptop"]!)) up since "), "\(verbose)")

        // Concurrent edits while apart: one version keeps the path, the other is a conflict copy
        // on every machine, and sync conflicts says which machine made it.
        for (_, m) in machines { m.down() }
        try laptop.node.write(laptop.node.base + "/Shared/report.txt", "the laptop's ending\n")
        try nas.node.write(nas.node.base + "/Shared/report.txt", "the nas's ending, longer\n")
        for (_, m) in machines { try m.up() }
        func copies(_ m: PeerNode) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: m.node.base + "/Shared")) ?? []).filter { $0.contains(".sync-conflict-") }
        }
        #expect(waitFor(60) { machines.allSatisfy { copies($0.1).count == 1 } && Set(machines.map { copies($0.1) }).count == 1 },
                "\(machines.map { copies($0.1) })\nlaptop: \(laptop.log)\ndesktop: \(desktop.log)\nnas: \(nas.log)")
        let conflicts = try desktop.node.run("sync", ["conflicts", id])
        #expect(conflicts.status == 0 && conflicts.lines.first == "conflict report.txt", "\(conflicts)")
        #expect(conflicts.stdout.contains(", made on laptop)") || conflicts.stdout.contains(", made on nas)"), "\(conflicts)")

        // Forgetting the folder on the nas keeps its files, and its history, and stops its sync.
        nas.down()
        let forgot = try nas.node.run("sync", ["forget", nas.node.base + "/Shared"])
        #expect(forgot.status == 0 && forgot.lines.first == "forgot \(id) \(nas.node.base)/Shared", "\(forgot)")
        #expect(try nas.node.run("sync", ["folders"]).stdout.isEmpty)
        #expect(FileManager.default.fileExists(atPath: nas.node.base + "/Shared/notes.txt"))
    }
}
