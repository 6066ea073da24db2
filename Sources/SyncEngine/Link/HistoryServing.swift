import Foundation
import SyncCore
import SyncGit
import SyncProtocol

/// The history requests a peer may make of a folder it may see (authorized by `FolderServer.serve`
/// before these run): which authored chains this node keeps, a page of one chain, and a pack of
/// named objects of the folder's history.
extension FolderServer {
    /// The most commits one chain answer holds.
    static let chainPage = 5000
    /// The content one pack answer holds at most (the first object always goes in; a history
    /// blob is at most `history.max-blob`).
    static let packContent: Int64 = 32 << 20

    /// This node's authored chain and every other chain it keeps (other nodes', and copies kept
    /// aside when one was rewritten).
    func serveTips(_ id: UInt32, _ context: FolderContext, _ session: Session) throws {
        let history = try context.history
        try history.reopenIfRewritten()
        // A fetch starts here: what other processes stored since this link's handle looked is served too.
        history.refreshObjects()
        let me = try state.identity().id
        let tips = try history.sideChains().prefix(Message.maxHistoryItems).compactMap { c in
            ChainName(ref: c.name, me: me).map { HistoryTip(node: $0.wire, commit: c.tip.hex) }
        }
        try session.send(.historyTips(id: id, tips))
    }

    /// A page of a chain, newest first.
    func serveChain(_ id: UInt32, _ context: FolderContext, node: String, below: String, after: String, limit: UInt32,
                    _ session: Session) throws {
        guard let name = ChainName(wire: node), (below.isEmpty || (try? ObjectID(hex: below)) != nil),
              (after.isEmpty || (try? ObjectID(hex: after)) != nil) else {
            return try session.send(.error(id: id, code: .badRequest, message: "bad history request"))
        }
        let history = try context.history
        try history.reopenIfRewritten()
        guard let tip = try history.reference(name.ref(me: try state.identity().id)) else {
            return try session.send(.error(id: id, code: .notFound, message: "no history of \(name.node.short) here"))
        }
        let page = Swift.min(Swift.max(Int(limit), 1), Self.chainPage)
        do {
            let (commits, reached) = try history.chain(from: tip, below: below.isEmpty ? nil : try ObjectID(hex: below),
                                                       after: after.isEmpty ? nil : try ObjectID(hex: after), limit: page)
            try session.send(.historyChain(id: id, commits: commits.map(\.hex), reachedAfter: reached))
        } catch let e as GitError {
            try session.send(.error(id: id, code: .failed, message: "history of \(name.node.short): \(e.message)"))
        }
    }

    /// A pack of the objects asked for (as many as `packContent` holds, from the front).
    func serveObjects(_ id: UInt32, _ context: FolderContext, _ ids: [String], _ session: Session) throws {
        guard let wanted = try? ids.map({ try ObjectID(hex: $0) }), !wanted.isEmpty else {
            return try session.send(.error(id: id, code: .badRequest, message: "bad object ids"))
        }
        let history = try context.history
        try history.reopenIfRewritten()
        let pack: [UInt8]
        do { pack = try history.pack(of: wanted, maxBytes: Self.packContent).bytes } catch let e as GitError {
            return try session.send(.error(id: id, code: .failed, message: "pack: \(e.message)"))
        }
        try sendAnswer(id, pack, session)
    }
}
