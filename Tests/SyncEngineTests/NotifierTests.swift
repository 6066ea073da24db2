import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine

/// sync-notify's engine: each commit line posts a notice, and peers no link follows are pulled from
/// once at a time, through a made-up dialer.
@Suite struct NotifierTests {
    @Test func aCommitLinePostsItsSequenceAndDialsOnlyPeersNoLinkFollows() throws {
        let f = try Fixture()
        var folder = f.context.folder
        try folder.config.add("peer", "laptop:\(folder.id)")
        try folder.config.add("peer", "nas:\(folder.id)")
        try folder.saveConfig()
        // A live link of this node already dials the laptop.
        var link = LinkStatus(folder: folder.id.rawValue, peer: "", role: .dial)
        link.remote = "laptop:\(folder.id)"
        LinkBoard(f.state).write(link)
        defer { LinkBoard(f.state).remove(link) }

        var dialed: [String] = []
        // The "pull" is a child that sleeps: it still runs when the next line comes.
        var child: pid_t = 0
        defer { if child > 0 { kill(child, SIGKILL); waitpid(child, nil, 0) } }
        let notifier = Notifier(state: f.state, folder: folder, dial: { remote in
            dialed.append(remote)
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("30"), nil]
            defer { argv.forEach { free($0) } }
            guard posix_spawnp(&child, "sleep", nil, nil, argv, environ) == 0 else { return nil }
            return child
        })
        #expect(try notifier.take("\(folder.id) 7 0123abc"))
        #expect(NoticeBoard(f.state).posted(folder.id) == 7)
        #expect(dialed == ["nas:\(folder.id)"])
        #expect(try notifier.take("\(folder.id) 8 4567def"))
        #expect(NoticeBoard(f.state).posted(folder.id) == 8)
        #expect(dialed == ["nas:\(folder.id)"], "a pull still running is not started twice")

        #expect(try !notifier.take("other-folder 9 89ab"))
        #expect(try !notifier.take("\(folder.id) not-a-number x"))
        #expect(NoticeBoard(f.state).posted(folder.id) == 8)

        let quiet = Notifier(state: f.state, folder: folder, dial: nil)
        #expect(try quiet.take("\(folder.id) 9 cdef"))
        #expect(NoticeBoard(f.state).posted(folder.id) == 9)
    }
}
