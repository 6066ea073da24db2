import Foundation
import Testing
@testable import SyncCore
@testable import SyncProtocol
@testable import SyncEngine

/// The follow loop of `sync pull --follow`, with a dial that fails: its waits, its state on the
/// link board, and its stop; no process, no network.
@Suite struct FollowerTests {
    final class Seen: @unchecked Sendable {
        var dials = 0
        var waits: [Double] = []
        var board: [LinkStatus] = []
        var sinces: [Double] = []
    }

    @Test func aPeerOutOfReachIsDialedAgainWithWaitsThatDoubleUpToTheMost() throws {
        let f = try Fixture()
        let seen = Seen()
        let board = LinkBoard(f.state)
        var follower = Follower([("ssh://nowhere/\(f.context.folder.id)", f.context.folder)], state: f.state) {
            seen.dials += 1
            throw SyncError.io(path: "nowhere", operation: "connect", errno: ECONNREFUSED)
        }
        follower.retryMax = 8
        follower.jitter = { 1 }
        follower.stopRequested = { seen.dials >= 6 }
        follower.sleep = { wait in
            seen.waits.append(wait)
            seen.board = board.links()
            seen.sinces += seen.board.map(\.since)
            usleep(20_000)
        }
        follower.run()
        #expect(seen.dials == 6)
        #expect(seen.waits == [1, 2, 4, 8, 8])
        // While it waits, sync status sees why and until when.
        let status = try #require(seen.board.first)
        #expect(status.state == .waiting)
        #expect(status.lastError?.contains("nowhere: connect") == true, "\(status)")
        #expect(status.retryAt != nil)
        // Away since the first try, however many retries came after.
        #expect(Set(seen.sinces).count == 1, "\(seen.sinces)")
        // Stopped, it leaves nothing on the board.
        #expect(board.links().isEmpty)
    }

    @Test func aFolderThePeerDoesNotShowIsSaidSo() throws {
        let f = try Fixture()
        let seen = Seen()
        let board = LinkBoard(f.state)
        var follower = Follower([("ssh://peer/\(f.context.folder.id)", f.context.folder)], state: f.state) {
            seen.dials += 1
            throw RemoteError(code: .notFound, message: "not found")
        }
        follower.jitter = { 1 }
        follower.stopRequested = { seen.dials >= 1 && !seen.board.isEmpty }
        follower.sleep = { _ in seen.board = board.links() }
        follower.run()
        #expect(seen.board.first?.lastError == "folder \(f.context.folder.id): not found on the peer (or this node is not allowed to see it)")
    }
}
