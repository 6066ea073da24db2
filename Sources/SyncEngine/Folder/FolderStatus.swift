import Foundation
import SyncCore
import SyncGit

/// What `sync status` reports of one folder.
public struct FolderStatus: Sendable, Codable {
    public let id: String
    public let name: String
    public let path: String
    public let state: String
    public let files: Int
    public let bytes: Int64
    public let sequence: Int64
    public let lastCommit: String?
    public let lastCommitTime: Date?
    /// Paths whose stat data differ from the index: changes not yet committed.
    public let pending: Int
    /// The folder's peers and the links of this node's processes to them.
    public let peers: [PeerLink]
    /// The first sequence of a change the deletion guard holds back (sync confirm), if any.
    public let heldFrom: Int64?
    /// Files the held deletion (and what came after it) removed that are still gone: the hold is
    /// released by itself when this reaches 0 (sync restore), or by sync confirm.
    public let heldStillDeleted: Int?
    /// When sync prune last rewrote or repacked the history, if ever.
    public let lastPruned: Date?
    /// The folder in one word (`summary(_:)`): in sync, syncing, behind, held, paused, offline, error.
    public private(set) var summary = ""

    /// One peer of the folder: configured (REMOTE), or only linked (a peer that dialed this node).
    /// A peer that dialed in and the same peer dialed out are one peer.
    public struct PeerLink: Sendable, Codable {
        public let remote: String?
        public let node: String?
        /// The name the peer gave itself (else nil).
        public let name: String?
        /// `dial` (this node follows the peer), `serve` (the peer follows this node), or nil: no link.
        public let role: String?
        /// `up`, `connecting`, `waiting`, or `no link` (sync up is not running, or the peer not configured here).
        public let state: String
        public let since: Date?
        /// The peer's sequence this node holds, the latest it is known to be at, and the last
        /// sequence of this node told to it.
        public let peerSequence: Int64?
        public let peerAt: Int64?
        public let told: Int64?
        /// Its changes this node lacks (sequences it is ahead by; nil: not known).
        public let behindBy: Int64?
        /// This node's changes the peer has not seen yet, and their bytes (nil: not known).
        public let unseen: Int?
        public let unseenBytes: Int64?
        /// `in sync`, `behind` (this node lacks its changes), `ahead` (it lacks this node's),
        /// `both`, or `unknown` (no link up).
        public let sync: String
        public let lastError: String?
        /// What this node receives from the peer now, and what it sends it.
        public let transfer: LinkStatus.Transfer?
        public let sending: LinkStatus.Transfer?
    }

    /// Gathers the status; the pending count comes from a stat walk that reads no contents.
    public init(_ context: FolderContext) throws {
        let f = context.folder
        id = f.id.rawValue
        name = f.name
        path = f.root
        state = f.state.rawValue
        let totals = try context.index.totals()
        files = totals.files
        bytes = totals.bytes
        sequence = try context.index.sequence()
        if let head = try? context.history.head(), let c = try? context.history.commit(head) {
            lastCommit = head.hex
            lastCommitTime = c.time
        } else {
            lastCommit = nil
            lastCommitTime = nil
        }
        // What a pull is writing now is on its way in, not a local change.
        let incoming = Puller.applying(f)
        pending = f.state == .missing ? 0 : try Committer(context).pending(reading: false).filter {
            !incoming.contains($0) && Reconcile.original(ofCopy: $0).map { !incoming.contains($0) } ?? true
        }.count
        heldFrom = try context.index.heldFrom()
        heldStillDeleted = try heldFrom.map { try context.index.filesStillDeleted(since: $0) }
        lastPruned = HistoryRepository.lastRewrite(at: f.historyPath)
        peers = try Self.peerLinks(f, index: context.index, links: LinkBoard(context.state).links(), names: NodeNames(context.state))
        summary = Self.summary(self)
    }

    /// The folder's configured peers, each with this node's link to it (`no link` when none), then
    /// the peers that dialed this node and are none of those, from the link files in `links`.
    /// A peer's name is the one it gave on this link, else the one it gave when last met (`names`).
    public static func peerLinks(_ f: Folder, index: FolderIndex, links all: [LinkStatus], names: NodeNames? = nil) throws -> [PeerLink] {
        let links = all.filter { $0.folder == f.id.rawValue }
        var peers: [PeerLink] = []
        var covered: Set<String> = []
        func peer(remote: String?, _ link: LinkStatus?, _ other: LinkStatus?) throws -> PeerLink {
            // The link to show: one that is up, the dialed one first.
            let shown = [link, other].compactMap { $0 }.first { $0.state == .up } ?? link ?? other
            let node = [link, other].compactMap { $0 }.map(\.peer).first { !$0.isEmpty }
            let held = try node.flatMap { try index.peerSequence($0) }
            let at = [link?.peerAt, other?.peerAt].compactMap { $0 }.max()
            let up = shown?.state == .up
            let behind = up ? max(0, (at ?? held ?? 0) - (held ?? 0)) : nil
            let unseen = try up ? node.map { try index.unseen(by: $0) } : nil
            let sync: String
            switch (behind, unseen?.changes) {
            case (let b?, let u?): sync = b == 0 && u == 0 ? "in sync" : b > 0 && u > 0 ? "both" : b > 0 ? "behind" : "ahead"
            default: sync = "unknown"
            }
            let transfer = [link?.transfer, other?.transfer].compactMap { $0 }.first
            let sending = [link?.sending, other?.sending].compactMap { $0 }.first
            let name = [link?.peerName, other?.peerName].compactMap { $0 }.first
                ?? node.flatMap { names?.name(ofID: $0) }
            return PeerLink(remote: remote, node: node, name: name,
                            role: shown.map { $0.role.rawValue }, state: shown?.state.rawValue ?? "no link",
                            since: shown.map { Date(timeIntervalSince1970: $0.since) }, peerSequence: held, peerAt: at,
                            told: [link?.told, other?.told].compactMap { $0 }.max(), behindBy: behind, unseen: unseen?.changes,
                            unseenBytes: unseen?.bytes, sync: transfer != nil || sending != nil ? "syncing" : sync,
                            lastError: link?.lastError ?? other?.lastError, transfer: transfer, sending: sending)
        }
        for remote in f.config.values("peer") {
            let link = links.first { $0.role == .dial && $0.remote == remote }
            let served = link.flatMap { l in l.peer.isEmpty ? nil : links.first { $0.role == .serve && $0.peer == l.peer } }
            if let served { covered.insert(served.peer) }
            peers.append(try peer(remote: remote, link, served))
        }
        for link in links where link.role == .serve && !covered.contains(link.peer) {
            covered.insert(link.peer)
            peers.append(try peer(remote: nil, link, nil))
        }
        return peers
    }

    /// The folder in one word: `paused`, `error` (its directory is gone),
    /// `held` (the deletion guard holds changes back), `syncing` (a transfer, or changes on disk not
    /// yet recorded), `behind` (a peer has changes this node lacks, or lacks this node's),
    /// `offline` (no link to any of its peers is up: sync up is not running, or they are away),
    /// else `in sync` (also for a folder with no peers).
    static func summary(_ s: FolderStatus) -> String {
        let (state, heldFrom, pending, peers) = (s.state, s.heldFrom, s.pending, s.peers)
        if state == Folder.State.paused.rawValue { return "paused" }
        if state == Folder.State.missing.rawValue { return "error" }
        if heldFrom != nil { return "held" }
        if pending > 0 || peers.contains(where: { $0.transfer != nil || $0.sending != nil }) { return "syncing" }
        if peers.contains(where: { ["behind", "ahead", "both"].contains($0.sync) }) { return "behind" }
        if !peers.isEmpty && !peers.contains(where: { $0.state == "up" }) { return "offline" }
        return "in sync"
    }

    /// The human form: the folder and its one-word state, then one `key: value` line each, then
    /// a line per peer saying whether it is in sync.
    public var text: String { text(verbose: false) }

    /// The human form; `verbose` names each peer by its node id beside its name.
    public func text(verbose: Bool) -> String {
        let time = ISO8601DateFormatter()
        var lines = ["folder \(id) (\(name)): \(summary)", "  path:        \(path)",
                     "  state:       \(state)\(state == "paused" ? " (nothing recorded, taken from peers or served to them)" : "")",
                     "  files:       \(files)", "  bytes:       \(bytes) (\(Units.formatBytes(bytes)))",
                     "  sequence:    \(sequence)"]
        if let lastCommit, let lastCommitTime {
            lines.append("  last commit: \(lastCommit.prefix(12)) at \(time.string(from: lastCommitTime))")
        } else {
            lines.append("  last commit: none")
        }
        lines.append("  pending:     \(pending)\(pending > 0 ? " (changed on disk, not recorded yet)" : "")")
        lines.append("  pruned:      \(lastPruned.map { time.string(from: $0) } ?? "never")")
        if let heldFrom {
            lines.append("  held:        changes from sequence \(heldFrom) on, a large deletion first: not spread until 'sync confirm \(id)'"
                         + " or until its \(heldStillDeleted ?? 0) deleted files are back (sync restore)")
        }
        for p in peers { lines += Self.lines(of: p, verbose: verbose) }
        return lines.joined(separator: "\n")
    }

    /// `peer: laptop (ssh://...) up since T, in sync`, and its error and transfer when it has them.
    static func lines(of p: PeerLink, verbose: Bool = false, now: Date = Date()) -> [String] {
        let time = ISO8601DateFormatter()
        var label = p.name ?? p.node.map { "node " + $0.prefix(8) } ?? "node ?"
        if verbose, p.name != nil, let node = p.node { label += " [node \(node)]" }
        let where_ = p.remote ?? "it dialed"
        var line = "  peer:        \(label) (\(where_)) \(p.state)"
        if let since = p.since {
            line += " since \(time.string(from: since))"
            if p.state != "up" { line += " (away \(Units.formatDuration(now.timeIntervalSince(since))))" }
        }
        switch p.sync {
        case "in sync": line += ", in sync"
        case "unknown": break
        default:
            var parts: [String] = []
            if let b = p.behindBy, b > 0 { parts.append("behind by \(b) change\(b == 1 ? "" : "s")") }
            if let u = p.unseen, u > 0 { parts.append("it lacks \(u) change\(u == 1 ? "" : "s") of ours (\(Units.formatBytes(p.unseenBytes ?? 0)))") }
            if p.sync == "syncing" { parts.insert("syncing", at: 0) }
            if !parts.isEmpty { line += ", " + parts.joined(separator: ", ") }
        }
        var out = [line]
        if let e = p.lastError { out.append("    last error: \(e)") }
        if let t = p.transfer { out.append("    transfer:  " + t.text(now: now)) }
        if let t = p.sending { out.append("    transfer:  " + t.text(now: now)) }
        return out
    }
}
