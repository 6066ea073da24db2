import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

public struct PeerCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-peer",
        abstract: "Add, list and remove the peers a folder syncs with.",
        discussion: """
            A folder's peers are the remotes sync up follows for it, each with its own link: `add FOLDER \
            REMOTE` stores one, `remove FOLDER REMOTE` forgets it, `list [FOLDER]` shows them with the \
            state of their links. REMOTE is HOST:FOLDER-ID, USER@HOST:FOLDER-ID or \
            ssh://[USER@]HOST[:PORT]/FOLDER-ID, or only [USER@]HOST[:PORT], to which the folder's id is \
            added: peers name a folder by its id, so the id must be this folder's. The peer must allow \
            this node for the folder (sync keys allow, or sync join). Peers are kept in the folder's \
            config (`peer` values); sync up picks up a change within seconds. A REMOTE that leads to the \
            same user, host and port as a peer already listed (once ~/.ssh/config and the defaults, this \
            user and port 22, are applied) is that peer: `add` leaves it unchanged and says so.
            """)
    public static let manual = Manual(
        output: """
            add/remove: `added REMOTE`, `removed REMOTE` or `unchanged REMOTE`. list: one line per peer, \
            `FOLDER-ID REMOTE STATE`, STATE being the link's (up, connecting, waiting, or idle when no \
            process follows it); --json gives an array of {folder, remote, state, node, name, sync, peerSequence} (sync as in sync status).
            """,
        files: stateFiles + " Peers are `peer = REMOTE` lines of SYNC_DIR/folders/F/config.",
        examples: [("sync peer add ~/Documents me@desktop.lan", "follow the same folder on desktop.lan"),
                   ("sync peer list", "every folder's peers and their links")],
        seeAlso: ["sync-daemon", "sync-pull", "sync-keys", "sync-join"])

    enum Action: String, ExpressibleByArgument, CaseIterable { case add, list, remove }

    @Argument(help: "add, list or remove.")
    var action: Action

    @Argument(help: "The folder: its id, path or name (list: default every folder).", completion: .directory)
    var folder: String?

    @Argument(help: "The peer: HOST:FOLDER-ID, ssh://[USER@]HOST[:PORT]/FOLDER-ID or [USER@]HOST[:PORT].")
    var remote: String?

    @Flag(help: "Print JSON (list).")
    var json = false

    public init() {}

    public mutating func validate() throws {
        switch action {
        case .add, .remove:
            guard folder != nil, remote != nil else { throw ValidationError("\(action.rawValue) needs FOLDER and REMOTE") }
        case .list:
            if remote != nil { throw ValidationError("list takes at most a FOLDER") }
        }
        if json && action != .list { throw ValidationError("--json goes with list") }
    }

    /// REMOTE as stored: the ssh:// form, the folder's id added to a bare address.
    static func normalize(_ text: String, folder: FolderID) throws -> String {
        if let spec = try? RemoteSpec(text) {
            guard spec.folder == folder else {
                throw SyncError.refused("\(text): names folder \(spec.folder), not \(folder); peers name a folder by its id")
            }
            return spec.description
        }
        let bare = text.hasPrefix("ssh://") ? String(text.dropFirst(6)) : text
        guard let a = try? RemoteSpec.address(bare) else { _ = try RemoteSpec(text); return text }
        return "ssh://" + RemoteSpec.address(user: a.user, host: a.host, port: a.port) + "/" + folder.rawValue
    }

    struct Row: Encodable { let folder: String; let remote: String; let state: String; let node: String?; let name: String?; let sync: String; let peerSequence: Int64? }

    public func run() throws {
        try reporting("sync-peer") {
            let state = StateDirectory.fromEnvironment()
            switch action {
            case .add, .remove:
                var f = try state.folder(folder!)
                let r = try Self.normalize(remote!, folder: f.id)
                let present = f.config.values("peer").contains(r)
                if action == .add {
                    if present { return emit("unchanged \(r)") }
                    // The same peer under another spelling is not a second peer.
                    let environment = ProcessInfo.processInfo.environment
                    let endpoint = try Endpoint(RemoteSpec(r), environment: environment)
                    if let same = f.config.values("peer").first(where: { (try? RemoteSpec($0)).map { Endpoint($0, environment: environment) } == endpoint }) {
                        return emit("unchanged \(same) (the same peer as \(r))")
                    }
                    try f.config.add("peer", r)
                } else {
                    guard present else { throw SyncError.refused("folder \(f.id): \(r) is not one of its peers") }
                    try f.config.unset("peer", value: r)
                }
                try f.saveConfig()
                emit("\(action == .add ? "added" : "removed") \(r)")
            case .list:
                let folders = try folder.map { [try state.folder($0)] } ?? state.folders()
                let links = LinkBoard(state).links()
                var rows: [Row] = []
                for f in folders {
                    for p in try FolderStatus.peerLinks(f, index: FolderIndex(path: f.indexPath), links: links, names: NodeNames(state)) {
                        guard let remote = p.remote else { continue } // a peer that dialed in is not one of the folder's
                        rows.append(Row(folder: f.id.rawValue, remote: remote, state: p.role == nil ? "idle" : p.state,
                                        node: p.node, name: p.name, sync: p.sync, peerSequence: p.peerSequence))
                    }
                }
                if json { return emit(try SyncCommands.json(rows)) }
                for r in rows { emit("\(r.folder) \(r.remote) \(r.state)") }
            }
        }
    }
}
