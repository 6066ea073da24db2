import SyncCore
import SyncGit

/// The name of an authored chain as peers exchange it: `NODE` for that node's chain, or
/// `NODE/was/COMMIT` for a copy of it kept aside when the node's chain was rewritten there (see
/// `HistoryFetch`). Parsed from a peer's bytes: a node id, and at most one 40-digit commit id.
struct ChainName: Hashable {
    let node: NodeID
    let was: ObjectID?

    init(node: NodeID, was: ObjectID? = nil) { self.node = node; self.was = was }

    init?(wire: String) {
        let parts = wire.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let node = try? NodeID(parts[0]) else { return nil }
        switch parts.count {
        case 1: self.init(node: node)
        case 3 where parts[1] == "was":
            guard let id = try? ObjectID(hex: parts[2]) else { return nil }
            self.init(node: node, was: id)
        default: return nil
        }
    }

    /// The chain under a reference of this history (nil: not a chain reference).
    init?(ref: String, me: NodeID) {
        if ref == HistoryRepository.authoredRef { self.init(node: me); return }
        guard ref.hasPrefix("refs/peers/") else { return nil }
        let rest = ref.dropFirst("refs/peers/".count)
        if rest.hasSuffix("/authored") {
            self.init(wire: String(rest.dropLast("/authored".count)))
        } else {
            self.init(wire: String(rest))
        }
    }

    var wire: String { node.rawValue + (was.map { "/was/" + $0.hex } ?? "") }

    /// Where this history keeps it: this node's current chain is `refs/authored`, any other
    /// `refs/peers/NODE/authored` or `refs/peers/NODE/was/COMMIT`.
    func ref(me: NodeID) -> String {
        if let was { return "refs/peers/\(node.rawValue)/was/\(was.hex)" }
        return node == me ? HistoryRepository.authoredRef : HistoryRepository.peerRef(node.rawValue)
    }

    /// Where a fetch keeps it: `ref(me:)`, except that this node's own current chain, fetched back
    /// by a repair, goes beside its history (`refs/peers/ME/authored`), never over `refs/authored`.
    func fetchedRef() -> String {
        if let was { return "refs/peers/\(node.rawValue)/was/\(was.hex)" }
        return HistoryRepository.peerRef(node.rawValue)
    }
}
