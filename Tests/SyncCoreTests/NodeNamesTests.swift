import Foundation
import Testing
@testable import SyncCore

/// Names are shown, never trusted: what a peer calls itself is cleaned before it is kept.
@Suite struct NodeNamesTests {
    @Test func aPeersNameIsCleanedAndBounded() {
        #expect(NodeNames.clean("laptop") == "laptop")
        #expect(NodeNames.clean("  my laptop  ") == "my laptop")
        #expect(NodeNames.clean("evil\u{1b}[2J\nname/../x") == "evil[2Jname..x")
        #expect(NodeNames.clean("\u{7f}\u{0}\t") == nil)
        #expect(NodeNames.clean("") == nil)
        let long = NodeNames.clean(String(repeating: "é", count: 100))!
        #expect(long.utf8.count <= NodeNames.maxBytes && long.allSatisfy { $0 == "é" })
    }

    @Test func ownNameAndPeersNamesAreKept() throws {
        let dir = NSTemporaryDirectory() + "/names-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = NodeNames(StateDirectory(root: dir))
        #expect(!names.own().isEmpty) // the host name until set
        #expect(try names.setOwn("desk") == "desk")
        #expect(names.own() == "desk")
        #expect(throws: SyncError.self) { try names.setOwn("a/b") }
        #expect(throws: SyncError.self) { try names.setOwn("") }
        let peer = try NodeID(String(repeating: "a", count: 52))
        #expect(names.name(of: peer) == nil && names.label(peer) == "aaaaaaaa")
        names.note("nas\u{7}", for: peer)
        #expect(names.name(of: peer) == "nas" && names.all() == [peer: "nas"])
        names.note(nil, for: peer)
        #expect(names.name(of: peer) == "nas")
    }
}
