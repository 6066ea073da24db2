import Foundation
import SyncCore
import SyncGit
import SyncProtocol

/// What a history fetch brought.
public struct HistoryFetchOutcome: Sendable, Equatable {
    /// Chains that moved, commits and objects that came, and the bytes of their packs.
    public var chains = 0
    /// Chains the peer keeps that this fetch looked at (moved or not).
    public var offered = 0
    public var commits = 0
    public var objects = 0
    public var bytes: Int64 = 0
    /// Chains left as they were, and why (a peer's answer that did not hold together).
    public var problems: [String] = []
}

/// Fetches the authored histories a peer keeps of a folder (its own and those it fetched from
/// others) into this node's history, as `refs/peers/<node>/authored`: for each chain whose tip is
/// new here, the commits down to the one held, then, level by level, only the objects that are not
/// here (a commit's tree, a tree's entries), as packs checked before they join history.
///
/// A chain only moves forward: when the peer's tip does not descend from the one held here (that
/// node's history was pruned or rewritten), the one held stays, under
/// `refs/peers/<node>/was/<tip>`, so that what one node does to its history takes nothing from
/// another's. A peer's tip that is behind the one held is ignored.
public final class HistoryFetch {
    let context: FolderContext
    let remote: RemoteFolder
    let me: NodeID
    var outcome = HistoryFetchOutcome()
    /// Commits asked for in one chain answer, object ids in one pack request.
    var chainPage = 5000
    var idsPerRequest = 5000
    /// The longest chain one fetch takes.
    static let maxChain = 2_000_000
    /// The largest pack answer taken: the serving side puts at most `FolderServer.packContent` of
    /// content in one, or one object of at most `history.max-blob`.
    var packLimit: Int64 { max(FolderServer.packContent, context.folder.config.maxBlob) * 2 + (1 << 20) }

    /// Only this node's chain (nil: every chain but this node's own, which is fetched only to
    /// repair this node's history: `repair`).
    var only: NodeID?

    init(context: FolderContext, remote: RemoteFolder, me: NodeID) {
        self.context = context; self.remote = remote; self.me = me
    }

    /// Fetches the copy the peer keeps of this node's own authored chain into
    /// `refs/peers/<this node>/authored`: this node's versions that its own history lost (deleted,
    /// rewritten, corrupt) are kept here again, listed by `sync versions` and readable.
    public static func repair(context: FolderContext, remote: RemoteFolder) throws -> HistoryFetchOutcome {
        let me = try context.state.identity().id
        let fetch = HistoryFetch(context: context, remote: remote, me: me)
        fetch.only = me
        return try fetch.run()
    }

    /// The packs fetches installed whose trees are not known to be whole yet, a name a line: a pack
    /// is noted before it is installed, and the note goes once every tree of the noted packs has
    /// every entry here. A fetch cut short leaves trees whose entries did not all come; those are
    /// read, not trusted, when met (every other tree here is whole: this node's writers write a
    /// tree after what it names, and a fetch installs nothing it did not note).
    var untrustedPacks: String { context.folder.directory + "/history-fetch.untrusted" }
    static func lockPath(_ folder: Folder) -> String { folder.directory + "/history-fetch.lock" }

    func run() throws -> HistoryFetchOutcome {
        let tips = try remote.historyTips()
        guard !tips.isEmpty else { return outcome }
        // One exchange writes a history at a time, and no prune removes objects meanwhile.
        let lock = try FileLock(path: Self.lockPath(context.folder))
        defer { _ = lock }
        let history = try context.history
        try history.reopenIfRewritten()
        // Packs another process installed since this handle looked (a fetch over another link of
        // `sync up`): without a look, objects here would be taken for missing, and a chain this
        // node holds further for one rewritten.
        history.refreshObjects()
        untrusted = loadUntrusted(history)
        var whole = true
        defer { if whole { try? settleUntrusted(history) } }
        for tip in tips {
            guard let name = ChainName(wire: tip.node), let id = try? ObjectID(hex: tip.commit) else {
                throw ProtocolError.malformed("a history tip that is not a chain name and a commit id")
            }
            if let only { guard name.node == only else { continue } } else if name.node == me { continue }
            outcome.offered += 1
            do { try fetch(name, tip: id, history) } catch let e as Refused {
                whole = false
                outcome.problems.append("history of \(name.node.short): \(e.message)")
            } catch let e as GitError {
                whole = false
                outcome.problems.append("history of \(name.node.short): \(e.description)")
            } catch {
                whole = false
                throw error
            }
        }
        // What `sync versions` reads of the chains, made now rather than at its first use.
        if outcome.chains > 0 { try? HistoryQueries(context).refreshChainChanges() }
        return outcome
    }

    /// A peer's answer that does not hold together: this chain stays as it was.
    struct Refused: Error { let message: String }

    private func fetch(_ name: ChainName, tip: ObjectID, _ history: HistoryRepository) throws {
        let node = name.node
        let ref = name.fetchedRef()
        let have = try history.reference(ref)
        if have == tip { return }
        // Behind what is held here (another peer relayed a newer one): nothing to take.
        if let have, history.contains(tip), try history.firstParentChain(of: have, holds: tip, limit: Self.maxChain) { return }
        // The chain from the tip down to what is held, newest first.
        var chain: [ObjectID] = []
        var reached = false
        while true {
            let page = try remote.historyChain(node: name.wire, below: chain.last?.hex ?? "", after: have?.hex ?? "", limit: chainPage)
            guard let ids = try? page.commits.map({ try ObjectID(hex: $0) }) else { throw Refused(message: "a commit id that is not one") }
            chain += ids
            guard chain.count <= Self.maxChain else { throw Refused(message: "a chain longer than \(Self.maxChain) commits") }
            if page.reachedAfter { reached = true; break }
            if ids.count < chainPage { break }
        }
        guard let newTip = chain.first else { return }
        let aside = have.map { ChainName(node: node, was: $0).fetchedRef() }
        if let aside, !reached {
            // Not a descendant of the chain held here: keep that one aside, whole.
            outcome.problems.append("history of \(node.short) was rewritten there; the copy held here is kept as \(aside)")
        }
        try fetchObjects(chain: chain, below: reached ? have : nil, history)
        if let have, let aside, !reached, try history.reference(aside) == nil {
            try history.setReference(aside, to: have, expected: nil, why: "kept", sync: true)
        }
        try history.setReference(ref, to: newTip, expected: have, why: "fetched", sync: true)
        outcome.chains += 1
        outcome.commits += chain.count
    }

    /// The objects of packs noted in `untrustedPacks` (see there).
    private var untrusted = Set<ObjectID>()

    private func noted() -> [String] {
        ((try? String(contentsOfFile: untrustedPacks, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private func loadUntrusted(_ history: HistoryRepository) -> Set<ObjectID> {
        var ids = Set<ObjectID>()
        for name in noted() where name.allSatisfy({ $0.isHexDigit }) {
            ids.formUnion((try? IncomingPack.ids(ofIndex: history.path + "/objects/pack/pack-\(name).idx")) ?? [])
        }
        return ids
    }

    /// Notes a pack before it is installed (synced: a crash after the install keeps the note).
    private func note(_ name: String) throws {
        let fd = try Descriptor(opening: untrustedPacks, O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
        try POSIX.writeAll(fd.raw, Array((name + "\n").utf8), path: untrustedPacks)
        guard fsync(fd.raw) == 0 else { throw SyncError.io(path: untrustedPacks, operation: "fsync", errno: errno) }
    }

    /// Lifts the note when every tree of the noted packs now has all its entries here (those
    /// this fetch brought always do; a cut one's are filled by a later fetch that meets them).
    private func settleUntrusted(_ history: HistoryRepository) throws {
        guard FileManager.default.fileExists(atPath: untrustedPacks) else { return }
        history.refreshObjects()
        for id in loadUntrusted(history) where history.header(id)?.kind == .tree {
            for e in try history.children(ofTree: id) where !history.contains(e.id) { return }
        }
        try FileManager.default.removeItem(atPath: untrustedPacks)
    }

    /// Brings every object the chain's commits reach that is not here, then checks that each commit
    /// sits on the next (the last on `below`, or on nothing).
    private func fetchObjects(chain: [ObjectID], below: ObjectID?, _ history: HistoryRepository) throws {
        var seen = Set<ObjectID>()
        var wanted: [ObjectID] = []
        var parents: [ObjectID: [ObjectID]] = [:]
        // Objects here already are whole below, except the trees of packs a fetch cut short
        // installed (`untrustedPacks`): those are read here too.
        func want(_ id: ObjectID, tree: Bool) throws {
            guard seen.insert(id).inserted else { return }
            if !history.contains(id) { wanted.append(id); return }
            guard tree, untrusted.contains(id) else { return }
            for e in try history.children(ofTree: id) { try want(e.id, tree: e.isTree) }
        }
        for c in chain.reversed() {
            if history.contains(c) {
                seen.insert(c)
                let commit = try history.commit(c)
                parents[c] = commit.parents
                try want(commit.tree, tree: true)
            } else {
                try want(c, tree: false)
            }
        }
        while !wanted.isEmpty {
            let batch = Array(wanted.prefix(idsPerRequest))
            let pack = try history.incomingPack(limit: packLimit)
            try remote.objects(batch.map(\.hex), limit: packLimit) { try pack.append($0) }
            let received = try pack.finish()
            let asked = Set(batch)
            guard received.allSatisfy({ asked.contains($0.id) }) else { throw Refused(message: "a pack with objects not asked for") }
            guard !received.isEmpty else { throw Refused(message: "the peer lacks object \(batch[0].short)") }
            try note(pack.name!)
            try history.install(pack)
            outcome.objects += received.count
            outcome.bytes += pack.bytes
            let got = Set(received.map(\.id))
            wanted.removeAll { got.contains($0) }
            for o in received {
                switch o.kind {
                case .commit:
                    parents[o.id] = o.parents
                    try want(o.tree!, tree: true)
                case .tree:
                    for e in o.entries { try want(e.id, tree: e.isTree) }
                case .blob:
                    break
                }
            }
        }
        // Each commit on the next, the oldest on what was held: no merges, no commit from elsewhere.
        for (i, c) in chain.enumerated() {
            let expected = i + 1 < chain.count ? chain[i + 1] : below
            guard parents[c] == (expected.map { [$0] } ?? []) else {
                throw Refused(message: "commit \(c.short) does not sit on the commit before it in the chain")
            }
        }
    }
}
