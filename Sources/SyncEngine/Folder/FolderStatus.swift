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

    /// One peer of the folder: configured (REMOTE), or only linked (a peer that dialed this node).
    public struct PeerLink: Sendable, Codable {
        public let remote: String?
        public let node: String?
        /// `dial` (this node follows the peer), `serve` (the peer follows this node), or nil: no link.
        public let role: String?
        /// `up`, `connecting`, `waiting`, or `no link` (sync up is not running, or the peer not configured here).
        public let state: String
        public let since: Date?
        /// The peer's sequence this node holds, and the last sequence of this node told to it.
        public let peerSequence: Int64?
        public let told: Int64?
        public let lastError: String?
        public let transfer: LinkStatus.Transfer?
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
        pending = f.state == .missing ? 0 : try Committer(context).pending().count
        heldFrom = try context.index.heldFrom()
        heldStillDeleted = try heldFrom.map { try context.index.filesStillDeleted(since: $0) }
        lastPruned = HistoryRepository.lastRewrite(at: f.historyPath)
        peers = try Self.peerLinks(f, index: context.index, links: LinkBoard(context.state).links())
    }

    /// The folder's configured peers, each with this node's link to it (`no link` when none), then
    /// the peers that dialed this node, from the link files in `links`.
    public static func peerLinks(_ f: Folder, index: FolderIndex, links all: [LinkStatus]) throws -> [PeerLink] {
        let links = all.filter { $0.folder == f.id.rawValue }
        func held(_ node: String?) throws -> Int64? { try node.flatMap { try index.peerSequence($0) } }
        var peers: [PeerLink] = []
        for remote in f.config.values("peer") {
            let link = links.first { $0.role == .dial && $0.remote == remote }
            let node = link.flatMap { $0.peer.isEmpty ? nil : $0.peer }
            peers.append(PeerLink(remote: remote, node: node, role: link.map { $0.role.rawValue }, state: link?.state.rawValue ?? "no link",
                                  since: link.map { Date(timeIntervalSince1970: $0.since) }, peerSequence: try held(node),
                                  told: link?.told, lastError: link?.lastError, transfer: link?.transfer))
        }
        for link in links where link.role == .serve {
            peers.append(PeerLink(remote: nil, node: link.peer, role: link.role.rawValue, state: link.state.rawValue,
                                  since: Date(timeIntervalSince1970: link.since), peerSequence: try held(link.peer),
                                  told: link.told, lastError: link.lastError, transfer: link.transfer))
        }
        return peers
    }

    /// The human form: one `key: value` line each.
    public var text: String {
        var lines = ["folder \(id) (\(name))", "  path:        \(path)", "  state:       \(state)\(state == "paused" ? " (nothing recorded, taken from peers or served to them)" : "")",
                     "  files:       \(files)", "  bytes:       \(bytes) (\(Units.formatBytes(bytes)))",
                     "  sequence:    \(sequence)"]
        if let lastCommit, let lastCommitTime {
            lines.append("  last commit: \(lastCommit.prefix(12)) at \(ISO8601DateFormatter().string(from: lastCommitTime))")
        } else {
            lines.append("  last commit: none")
        }
        lines.append("  pending:     \(pending)")
        lines.append("  pruned:      \(lastPruned.map { ISO8601DateFormatter().string(from: $0) } ?? "never")")
        if let heldFrom {
            lines.append("  held:        changes from sequence \(heldFrom) on, a large deletion first: not spread until 'sync confirm \(id)'"
                         + " or until its \(heldStillDeleted ?? 0) deleted files are back (sync restore)")
        }
        let time = ISO8601DateFormatter()
        for p in peers {
            let who = p.remote ?? "node \(p.node.map { String($0.prefix(8)) } ?? "?") (it dialed)"
            var line = "  peer:        \(who) \(p.state)"
            if let since = p.since { line += " since \(time.string(from: since))" }
            if let s = p.peerSequence { line += ", its sequence \(s) held" }
            if let t = p.told { line += ", told \(t) of \(sequence)" }
            lines.append(line)
            if let e = p.lastError { lines.append("    last error: \(e)") }
            if let t = p.transfer {
                lines.append("    transfer:  \(t.entriesDone)/\(t.entriesTotal) entries, \(Units.formatBytes(t.bytes)) at \(Units.formatBytes(Int64(t.bytesPerSecond)))/s")
            }
        }
        return lines.joined(separator: "\n")
    }
}
