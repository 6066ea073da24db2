import Foundation
import SyncCore
import SyncEngine

/// `sync pull --follow REMOTE...`: the engine's Follower over SSH, one link for the folders of all
/// the remotes (one peer), stopped by SIGTERM or SIGINT (or by the daemon's end).
func follow(_ followed: [(remote: String, folder: Folder)], spec: RemoteSpec, state: StateDirectory, retryMax: Double) throws {
    StopSignal.install()
    stopWithDaemon()
    var log = makeLogger("sync-pull")
    if followed.count == 1 { log[metadataKey: "folder"] = "\(followed[0].folder.id)" }
    let settings = try LinkSettings.fromEnvironment()
    let address = followed.count == 1 ? followed[0].remote : RemoteSpec.address(user: spec.user, host: spec.host, port: spec.port)
    var follower = Follower(followed, address: address, state: state) {
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
