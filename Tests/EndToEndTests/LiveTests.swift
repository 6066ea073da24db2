import Foundation
import Testing

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

    @Test func aFileSavedOnOneNodeAppearsOnTheOtherBothWays() throws {
        let (n, id, p) = try nodes(2)
        defer { for x in n { x.down() } }
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
        // sync status and sync peer list show the links.
        let status = try n[1].node.run("sync-status", [id])
        #expect(status.stdout.contains("peer ") && status.stdout.contains(" up"), "\(status)")
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
