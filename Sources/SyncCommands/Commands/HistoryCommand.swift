import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol

public struct HistoryCommand: ToolCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sync-history",
        abstract: "Repair a folder's history from the copies its peers keep.",
        discussion: """
            `repair FOLDER [REMOTE...]` brings back this node's own versions of FOLDER that its history \
            lost (history.git deleted, rewritten with git rebase or reset, or corrupt) from the copies its \
            peers keep: every pull fetches the peer's authored history (the changes made on that node), \
            so each peer holds this node's as refs/peers/NODE/authored. It asks each REMOTE (default: the \
            folder's peers, see sync peer) for that copy and keeps it here as \
            refs/peers/THIS-NODE/authored, as a pull keeps other nodes': sync versions then lists those \
            versions again and sync show and sync restore --at read them. Only what is missing here \
            crosses. The folder goes on syncing whatever its history holds: a history that cannot be \
            opened is moved aside (history.broken-TIME) and started anew with the folder as it is, and one \
            whose last commit cannot be read goes on from the folder as it is; repair is what brings the \
            older versions back.
            """)
    public static let manual = Manual(
        output: """
            One line per remote asked: the remote, then `N commits, M objects, B bytes` fetched (0 \
            commits: this node's copy there is the one held here already), or why it could not be \
            asked or held nothing; then a line that says how many of this node's versions are kept as \
            refs/peers/THIS-NODE/authored, or that no peer keeps any.
            """,
        exitStatus: "0 when at least one remote answered; 1 when none could be reached or none keeps this node's history of the folder; 2 on a usage error.",
        files: stateFiles,
        examples: [("sync history repair ~/Documents", "this node's versions of ~/Documents, back from its peers"),
                   ("sync history repair ~/Documents ssh://desktop.lan/FOLDER-ID", "from one peer")],
        seeAlso: ["sync-versions", "sync-pull", "sync-peer", "sync-prune"])

    @Argument(help: "What to do: repair.", completion: .list(["repair"]))
    var action: String

    @Argument(help: "The folder: its id, path or name.", completion: .directory)
    var folder: String

    @Argument(help: "Remotes to ask, ssh://[USER@]HOST[:PORT]/FOLDER-ID (default: the folder's peers).")
    var remotes: [String] = []

    public init() {}

    public mutating func validate() throws {
        guard action == "repair" else { throw ValidationError("unknown action '\(action)'; known: repair") }
        for r in remotes where (try? RemoteSpec(r)) == nil { throw ValidationError("\(r): not a remote such as ssh://host/FOLDER-ID") }
    }

    public func run() throws {
        try reporting("sync-history") {
            let state = StateDirectory.fromEnvironment()
            let f = try resolveFolder(folder, state: state)
            let context = try FolderContext(f, state: state)
            let asked = remotes.isEmpty ? f.config.values("peer") : remotes
            guard !asked.isEmpty else { throw SyncError.refused("folder \(f.id): no peers to ask (name a remote, or add one with sync peer add)") }
            var answered = 0
            for r in asked {
                do {
                    let spec = try RemoteSpec(r)
                    var dialer = Dialer(state: state)
                    dialer.warn = { warn("sync-history: \($0)") }
                    let dialed = try dialer.dial(spec)
                    defer { try? dialed.session.send(.bye); dialed.connection.finish() }
                    let outcome = try HistoryFetch.repair(context: context, remote: RemoteFolder(session: dialed.session, folder: f.id.rawValue))
                    answered += 1
                    for p in outcome.problems { warn("sync-history: \(r): \(p)") }
                    if outcome.offered == 0 {
                        emit("\(r)\tkeeps no history of this node for this folder")
                    } else {
                        emit("\(r)\t\(outcome.commits) commits, \(outcome.objects) objects, \(outcome.bytes) bytes")
                    }
                } catch let e as RemoteError {
                    emit("\(r)\tnot asked: \(e.code == .notFound ? "folder \(f.id) not found there" : e.message)")
                } catch let e as SyncError {
                    emit("\(r)\tnot asked: \(e.description)")
                } catch let e as ProtocolError {
                    emit("\(r)\tnot asked: \(e)")
                }
            }
            let kept = try HistoryQueries(context).repairedChainLength()
            if kept > 0 {
                emit("\(kept) commits of this node's history of folder \(f.id) are kept as refs/peers/\(try state.identity().id)/authored")
            } else {
                emit("no peer asked keeps this node's history of folder \(f.id)")
            }
            guard answered > 0, kept > 0 else { throw ExitCode(1) }
        }
    }
}
