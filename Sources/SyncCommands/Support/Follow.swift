import Foundation
import SyncCore
import SyncEngine

/// `sync pull --follow REMOTE`: the engine's Follower over SSH, stopped by SIGTERM or SIGINT
/// (or by the daemon's end).
func follow(_ remote: String, spec: RemoteSpec, folder: Folder, state: StateDirectory, retryMax: Double) throws {
    StopSignal.install()
    stopWithDaemon()
    var log = makeLogger("sync-pull")
    log[metadataKey: "folder"] = "\(folder.id)"
    let settings = try LinkSettings.fromEnvironment()
    var follower = Follower(remote: remote, folder: folder, state: state) {
        var dialer = Dialer(state: state)
        dialer.warn = { log.notice("\($0)") }
        let dialed = try dialer.dial(spec)
        return Follower.Dialed(session: dialed.session, peer: dialed.peer, name: dialed.name, close: { dialed.connection.close() })
    }
    follower.retryMax = retryMax
    follower.keepalive = settings.keepalive
    follower.idleTimeout = settings.idleTimeout
    follower.log = log
    follower.stopRequested = { StopSignal.requested }
    follower.sleep = StopSignal.sleep
    follower.run()
}
