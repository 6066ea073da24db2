import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine
@testable import SyncGit
@testable import SyncProtocol

/// Authored histories fetched from peers (`HistoryFetch`, `FolderServer` history requests): only
/// what is missing crosses, chains only move forward, a rewritten one is kept aside, prunes keep
/// them whole, and a peer's bad answers store nothing.
@Suite struct HistoryExchangeTests {
    typealias Node = PullerPropertyTests.Node

    /// A, B and C sharing A's folder; A lets B and C see it, B lets C.
    func nodes(_ base: String) throws -> (a: Node, b: Node, c: Node) {
        let a = try Node(base: base + "/a", id: nil)
        let b = try Node(base: base + "/b", id: a.context.folder.id)
        let c = try Node(base: base + "/c", id: a.context.folder.id)
        try FolderAccess.allow(PeerKey(line: b.identity.publicKeyLine), for: a.context.folder)
        try FolderAccess.allow(PeerKey(line: c.identity.publicKeyLine), for: a.context.folder)
        try FolderAccess.allow(PeerKey(line: c.identity.publicKeyLine), for: b.context.folder)
        return (a, b, c)
    }

    func save(_ n: Node, _ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: n.root + "/" + path))
        _ = try Committer(n.context).commit()
    }

    func base() -> String { FileSystem.canonical(NSTemporaryDirectory()) + "/sync-history-" + UUID().uuidString }

    @Test func onlyWhatIsMissingCrossesAndRelaysReachEveryNode() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, c) = try nodes(base)
        for i in 1...5 { try save(a, "x.txt", "x version \(i)\n") }
        let first = try PullerPropertyTests.pull(b, from: a)
        #expect(first.history.problems.isEmpty, "\(first.history.problems)")
        #expect(first.history.chains == 1 && first.history.commits == 5)
        // Five commits, and the trees and blobs of the four versions B never had: not the fifth's.
        #expect(first.history.objects == 13, "\(first.history)")
        let ref = HistoryRepository.peerRef(a.identity.id.rawValue)
        #expect(try b.context.history.reference(ref) == a.context.history.reference(HistoryRepository.authoredRef))

        // One more save: its commit is all that crosses (B applied its tree and content already).
        try save(a, "x.txt", "x version 6\n")
        let second = try PullerPropertyTests.pull(b, from: a)
        #expect(second.history.commits == 1 && second.history.objects == 1, "\(second.history)")
        let again = try PullerPropertyTests.pull(b, from: a)
        #expect(again.history.chains == 0 && again.history.objects == 0 && again.history.offered == 1, "\(again.history)")

        // C gets A's history from B, and lists every version made on A once.
        let relayed = try PullerPropertyTests.pull(c, from: b)
        #expect(relayed.history.chains == 1 && relayed.history.commits == 6, "\(relayed.history)")
        let versions = try HistoryQueries(c.context).versions(of: RelativePath("x.txt"))
        #expect(versions.count == 6, "\(versions.map(\.line))")
        #expect(versions.allSatisfy { $0.madeOn == [a.identity.id.rawValue] && $0.recoverable })
        for (n, v) in versions.enumerated() {
            let blob = try c.context.history.blob(ObjectID(hex: v.blob!))
            #expect(blob == Array("x version \(6 - n)\n".utf8))
        }
        // Every node's changes: A's six, once each (C's own pulled commit is one of them).
        let all = try HistoryQueries(c.context).logAll()
        #expect(all.count == 6 && all.allSatisfy { $0.madeOn == [a.identity.id.rawValue] && $0.changes.map(\.line) == ["M x.txt"] || $0.changes.map(\.line) == ["A x.txt"] },
                "\(all.map(\.line))")
        #expect(try HistoryQueries(c.context).logAll(path: RelativePath("x.txt"), limit: 4).count == 4)
        #expect(try HistoryQueries(c.context).logAll(path: RelativePath("y.txt")).isEmpty)
        #expect(try HistoryQueries(c.context).log().count == 1)
    }

    @Test func aChainOnlyMovesForwardAndARewrittenOneIsKeptAside() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, c) = try nodes(base)
        for i in 1...4 { try save(a, "y.txt", "y \(i)\n") }
        _ = try PullerPropertyTests.pull(b, from: a)
        try save(a, "y.txt", "y 5\n")
        _ = try PullerPropertyTests.pull(c, from: a)
        let ref = HistoryRepository.peerRef(a.identity.id.rawValue)
        let newest = try c.context.history.reference(ref)
        // B's copy of A's chain is one commit behind C's: C keeps its own.
        let behind = try PullerPropertyTests.pull(c, from: b)
        #expect(behind.history.chains == 0 && behind.history.problems.isEmpty, "\(behind.history)")
        #expect(try c.context.history.reference(ref) == newest)

        // A prunes (its chain is rewritten) and saves again: B takes the new chain and keeps the old.
        _ = try Pruner(a.context).run(Retention(keepLast: 2), dryRun: false)
        try save(a, "y.txt", "y 6\n")
        let old = try b.context.history.reference(ref)!
        let rewritten = try PullerPropertyTests.pull(b, from: a)
        #expect(rewritten.history.problems.contains { $0.contains("rewritten") }, "\(rewritten.history)")
        #expect(try b.context.history.reference(ref) == a.context.history.reference(HistoryRepository.authoredRef))
        #expect(try b.context.history.reference("refs/peers/\(a.identity.id.rawValue)/was/\(old.hex)") == old)
        // Every version once: the rewritten copies of versions kept aside are the same changes.
        let versions = try HistoryQueries(b.context).versions(of: RelativePath("y.txt"))
        #expect(versions.map(\.size) == [4, 4, 4, 4, 4, 4].map { Int64($0) }, "\(versions.map(\.line))")
        #expect(Set(versions.compactMap(\.blob)).count == 6)
    }

    @Test func aPruneKeepsPeersChainsWholeByTheSameRule() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, _) = try nodes(base)
        for i in 1...6 { try save(a, "z.txt", "z \(i)\n") }
        _ = try PullerPropertyTests.pull(b, from: a)
        let ref = HistoryRepository.peerRef(a.identity.id.rawValue)
        _ = try Pruner(b.context).run(Retention(keepLast: 3), dryRun: false)
        let history = try HistoryRepository(openAt: b.context.folder.historyPath)
        #expect(try history.chain(from: history.reference(ref)!).count == 3)
        let versions = try HistoryQueries(FolderContext(b.context.folder, state: b.state)).versions(of: RelativePath("z.txt"))
        #expect(versions.count == 3, "\(versions.map(\.line))")
        for v in versions { #expect(history.contains(try ObjectID(hex: v.blob!))) }
        let fsck = try Self.git(b.context.folder.historyPath, "fsck --no-dangling")
        #expect(fsck.status == 0, "\(fsck.output)")

        // Fewer of other nodes' versions than of this node's: history.peers.keep-last alone.
        try save(b, "own.txt", "b 1\n")
        try save(b, "own.txt", "b 2\n")
        var folder = try b.state.folder(b.context.folder.id.rawValue)
        try folder.config.set("history.peers.keep-last", "1")
        try folder.saveConfig()
        let context = try FolderContext(try b.state.folder(folder.id.rawValue), state: b.state)
        _ = try Pruner(context).run(Retention(context.folder.config), dryRun: false)
        #expect(try context.history.chain(from: context.history.reference(ref)!).count == 1)
        #expect(try HistoryQueries(context).versions(of: RelativePath("own.txt")).count == 2)
        #expect(try HistoryQueries(context).versions(of: RelativePath("z.txt")).map(\.size) == [4])
    }

    /// A prune stopped as a crash would, before and after its new pack, and after main moved but
    /// before the chains beside it did: every reference still reads whole (old packs go only after
    /// every reference moved), and the next prune finishes the job.
    @Test func aPruneCutShortLeavesEveryChainWhole() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b, _) = try nodes(base)
        for i in 1...6 { try save(a, "z.txt", "z \(i)\n") }
        for i in 1...4 { try save(b, "w.txt", "w \(i)\n") }
        _ = try PullerPropertyTests.pull(b, from: a)
        for step in ["commits", "pack", "main"] {
            let pruner = Pruner(b.context)
            pruner.afterStep = { if $0 == step { throw SyncError.refused("cut at \(step)") } }
            #expect(throws: SyncError.self) { try pruner.run(Retention(keepLast: 2), dryRun: false) }
            let fsck = try Self.git(b.context.folder.historyPath, "fsck --no-dangling")
            #expect(fsck.status == 0, "cut at \(step): \(fsck.output)")
            for chain in try HistoryRepository(openAt: b.context.folder.historyPath).sideChains() {
                let log = try Self.git(b.context.folder.historyPath, "log --format=%H \(chain.name)")
                #expect(log.status == 0, "cut at \(step): \(chain.name)")
            }
        }
        _ = try Pruner(b.context).run(Retention(keepLast: 2), dryRun: false)
        let history = try HistoryRepository(openAt: b.context.folder.historyPath)
        #expect(try history.chain(from: history.reference(HistoryRepository.peerRef(a.identity.id.rawValue))!).count == 2)
        #expect(try history.chain(from: history.reference(HistoryRepository.authoredRef)!).count == 2)
        let fsck = try Self.git(b.context.folder.historyPath, "fsck --no-dangling")
        #expect(fsck.status == 0, "\(fsck.output)")
    }

    // MARK: A peer's bad answers

    /// A source of real history objects: a node that saved `x` twice.
    func source(_ base: String) throws -> (node: Node, tip: ObjectID, parent: ObjectID) {
        let d = try Node(base: base + "/d", id: nil)
        try save(d, "x", "one\n")
        try save(d, "x", "two\n")
        let tip = try d.context.history.reference(HistoryRepository.authoredRef)!
        return (d, tip, try d.context.history.commit(tip).parents[0])
    }

    /// Pulls from a hostile peer that says it keeps `d`'s chain and answers with `answer`; returns
    /// the pull's result and the fixture (whose history must hold nothing of it).
    func hostilePull(_ base: String, tips: (NodeID, ObjectID) -> [HistoryTip],
                     answer: @escaping (Message, Session, Node) throws -> Void) throws -> (Result<PullOutcome, Error>, Fixture, Node) {
        let (d, tip, _) = try source(base)
        let f = try Fixture()
        let before = try Self.objects(f.context.folder.historyPath)
        let result = try HostilePeerTests().pull(f) { peer in
            peer.tips = tips(d.identity.id, tip)
            peer.historyAnswer = { try answer($0, $1, d) }
        }
        #expect(try Self.objects(f.context.folder.historyPath) == before, "objects stored from a bad answer")
        #expect(try f.context.history.sideChains().isEmpty)
        return (result, f, d)
    }

    @Test func aPackWithObjectsNotAskedForStoresNothing() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (result, _, _) = try hostilePull(base, tips: { [HistoryTip(node: $0.rawValue, commit: $1.hex)] }) { m, s, d in
            switch m {
            case .historyChainRequest(let id, _, _, _, _, _):
                let chain = try d.context.history.chain(from: d.context.history.reference(HistoryRepository.authoredRef)!)
                try s.send(.historyChain(id: id, commits: chain.map(\.id.hex), reachedAfter: false))
            case .objectsRequest(let id, _, let ids):
                // What was asked, and a blob of something else.
                let extra = try d.context.history.writeBlob(Array("another folder's secret\n".utf8))
                let pack = try d.context.history.pack(of: ids.map { try ObjectID(hex: $0) } + [extra], maxBytes: 1 << 20).bytes
                try s.send(.data(id: id, pack))
                try s.send(.end(id: id))
            default: break
            }
        }
        let outcome = try result.get()
        #expect(outcome.history.problems.contains { $0.contains("not asked for") }, "\(outcome.history)")
    }

    @Test func aCorruptPackStoresNothing() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (result, _, _) = try hostilePull(base, tips: { [HistoryTip(node: $0.rawValue, commit: $1.hex)] }) { m, s, d in
            switch m {
            case .historyChainRequest(let id, _, _, _, _, _):
                let tip = try d.context.history.reference(HistoryRepository.authoredRef)!
                try s.send(.historyChain(id: id, commits: [tip.hex, try d.context.history.commit(tip).parents[0].hex], reachedAfter: false))
            case .objectsRequest(let id, _, let ids):
                var pack = try d.context.history.pack(of: ids.map { try ObjectID(hex: $0) }, maxBytes: 1 << 20).bytes
                pack[pack.count / 2] ^= 0x40
                try s.send(.data(id: id, pack))
                try s.send(.end(id: id))
            default: break
            }
        }
        let outcome = try result.get()
        #expect(outcome.history.problems.count == 1, "\(outcome.history)")
    }

    @Test func aCommitThatDoesNotSitOnItsChainStoresNoReference() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        // The chain answer leaves the tip's parent out and says it is the whole chain.
        let d = try source(base + "/src")
        let f = try Fixture()
        let result = try HostilePeerTests().pull(f) { peer in
            peer.tips = [HistoryTip(node: d.node.identity.id.rawValue, commit: d.tip.hex)]
            peer.historyAnswer = { m, s in
                switch m {
                case .historyChainRequest(let id, _, _, _, _, _):
                    try s.send(.historyChain(id: id, commits: [d.tip.hex], reachedAfter: false))
                case .objectsRequest(let id, _, let ids):
                    let pack = try d.node.context.history.pack(of: ids.map { try ObjectID(hex: $0) }, maxBytes: 1 << 20).bytes
                    try s.send(.data(id: id, pack))
                    try s.send(.end(id: id))
                default: break
                }
            }
        }
        let outcome = try result.get()
        #expect(outcome.history.problems.contains { $0.contains("does not sit on") }, "\(outcome.history)")
        #expect(try f.context.history.sideChains().isEmpty)
    }

    @Test func aPackLargerThanItsBoundBreaksTheLinkAndStoresNothing() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (result, _, _) = try hostilePull(base, tips: { [HistoryTip(node: $0.rawValue, commit: $1.hex)] }) { m, s, _ in
            switch m {
            case .historyChainRequest(let id, _, _, _, _, _):
                try s.send(.historyChain(id: id, commits: [String(repeating: "ab", count: 20)], reachedAfter: false))
            case .objectsRequest(let id, _, _):
                let piece = [UInt8](repeating: 0x5a, count: Frame.chunkSize)
                for _ in 0..<(80 << 20) / Frame.chunkSize { try s.send(.data(id: id, piece)) }
                try s.send(.end(id: id))
            default: break
            }
        }
        #expect(throws: ProtocolError.self) { try result.get() }
    }

    @Test func aTipThatIsNotANodeAndACommitBreaksThePull() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        for bad in [HistoryTip(node: "../../heads/main", commit: String(repeating: "a", count: 40)),
                    HistoryTip(node: String(repeating: "q", count: 52) + "/was/../../heads", commit: String(repeating: "a", count: 40)),
                    HistoryTip(node: String(repeating: "q", count: 52), commit: "HEAD")] {
            let (result, _, _) = try hostilePull(base + "/" + UUID().uuidString, tips: { _, _ in [bad] }) { _, _, _ in }
            #expect(throws: ProtocolError.self) { try result.get() }
        }
    }

    /// A fetch cut after it installed a chain's commits and trees but not their blobs: the next
    /// fetch reads those trees instead of trusting them, brings what they lack, and the history is
    /// whole (found by chaos seed 45, where a later fetch trusted such a tree and git fsck failed).
    @Test func aFetchCutShortLeavesTreesTheNextFetchDoesNotTrust() throws {
        let base = base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (d, f) = try Node.pair(base)
        try save(d, "x", "one\n")
        try save(d, "x", "two\n")
        let tip = try d.context.history.reference(HistoryRepository.authoredRef)!
        // First, a peer that serves D's chain and cuts the link at the third pack (the blobs).
        let packs = Counter()
        let cut = try HostilePeerTests().pull(f.context, identity: f.identity, base: base) { hostile in
            hostile.tips = [HistoryTip(node: d.identity.id.rawValue, commit: tip.hex)]
            hostile.historyAnswer = { m, s in
                switch m {
                case .historyChainRequest(let id, _, _, _, _, _):
                    let chain = try d.context.history.chain(from: tip).map(\.id.hex)
                    try s.send(.historyChain(id: id, commits: chain, reachedAfter: false))
                case .objectsRequest(let id, _, let ids):
                    packs.n += 1
                    if packs.n == 3 { throw HostilePeer.Cut() }
                    try s.send(.data(id: id, try d.context.history.pack(of: ids.map { try ObjectID(hex: $0) }, maxBytes: 1 << 20).bytes))
                    try s.send(.end(id: id))
                default: break
                }
            }
        }
        #expect(throws: ProtocolError.self) { try cut.get() }
        #expect(packs.n == 3)
        #expect(try f.context.history.sideChains().isEmpty)
        #expect(FileManager.default.fileExists(atPath: f.context.folder.directory + "/history-fetch.untrusted"))

        // Then D itself: its chain comes whole, the first version's blob (which no pull brings) too.
        let pulled = try PullerPropertyTests.pull(f, from: d)
        #expect(pulled.history.problems.isEmpty && pulled.history.chains == 1, "\(pulled.history)")
        let fsck = try Self.git(f.context.folder.historyPath, "fsck --no-dangling")
        #expect(fsck.status == 0, "\(fsck.output)")
        #expect(try HistoryQueries(f.context).versions(of: RelativePath("x")).compactMap(\.size) == [4, 4])
        #expect(!FileManager.default.fileExists(atPath: f.context.folder.directory + "/history-fetch.untrusted"))
    }

    final class Counter: @unchecked Sendable { var n = 0 }

    /// Versions of the same second (commit times have whole seconds) go by their node's sequence:
    /// this node's versions listed from its history and from a repaired copy of its chain (which
    /// come as two lists) in the order it made them.
    @Test func versionsOfOneSecondGoByTheirNodesSequence() {
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        func v(_ seq: Int64, _ node: String = "m", at time: Date) -> FileVersion {
            var x = FileVersion(commit: "c\(seq)\(node)", time: time, node: node, status: "M", blob: "b\(seq)", size: seq, kept: "history")
            x.sequence = seq
            return x
        }
        let fromHistory = [v(7, at: t.addingTimeInterval(1)), v(4, at: t), v(1, at: t)]
        let fromRepair = [v(6, at: t), v(5, at: t), v(3, at: t), v(2, at: t)]
        #expect(HistoryQueries.newestFirst(fromHistory + fromRepair).map(\.size) == [7, 6, 5, 4, 3, 2, 1])
        // Another node's of the same second keep their own order, apart from this node's.
        let other = [v(9, "a", at: t), v(8, "a", at: t)]
        #expect(HistoryQueries.newestFirst(fromHistory + other).map(\.commit) == ["c7m", "c9a", "c8a", "c4m", "c1m"])
    }

    @Test func chainNamesAreANodeAndAtMostOneCommit() throws {
        let node = String(repeating: "q", count: 52), commit = String(repeating: "a", count: 40)
        let me = try NodeID(String(repeating: "m", count: 52))
        #expect(ChainName(wire: node)?.fetchedRef() == "refs/peers/\(node)/authored")
        #expect(ChainName(wire: "\(node)/was/\(commit)")?.fetchedRef() == "refs/peers/\(node)/was/\(commit)")
        for bad in ["", "..", "\(node)/", "\(node)/authored", "\(node)/was", "\(node)/was/\(commit)/x", "\(node)/was/../../x",
                    "\(node)/was/\(commit.uppercased())", "../\(node)", String(repeating: "q", count: 51)] {
            #expect(ChainName(wire: bad) == nil, "\(bad)")
        }
        // This node's own chain is refs/authored when served, and goes beside it when fetched back.
        #expect(ChainName(wire: me.rawValue)?.ref(me: me) == HistoryRepository.authoredRef)
        #expect(ChainName(wire: me.rawValue)?.fetchedRef() == HistoryRepository.peerRef(me.rawValue))
        #expect(ChainName(ref: HistoryRepository.authoredRef, me: me)?.wire == me.rawValue)
        #expect(ChainName(ref: "refs/peers/\(node)/was/\(commit)", me: me)?.wire == "\(node)/was/\(commit)")
        #expect(ChainName(ref: "refs/heads/main", me: me) == nil)
    }

    // MARK: Helpers

    /// Every object file and pack of a history, by name.
    static func objects(_ history: String) throws -> [String] {
        (FileManager.default.enumerator(atPath: history + "/objects")?.allObjects as? [String] ?? []).sorted()
    }

    static func git(_ dir: String, _ args: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "git --git-dir='\(dir)' \(args) 2>&1"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
