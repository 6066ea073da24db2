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
        #expect(second.lines.contains("A renamed.txt"))
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
}
