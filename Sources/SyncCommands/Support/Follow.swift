import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

/// Pulls a folder over the link when the peer offers it (sync pull's offer after its own pull);
/// each pull is logged on this node.
func pullOnOffer(_ server: FolderServer, state: StateDirectory, peer: NodeID, log: Logger) {
    server.onOffer = { folder, session in
        // Another process of this node pulling from this peer will bring the same.
        guard let lock = try? FileLock(path: Puller.lockPath(folder, peer: peer), wait: false) else { return [] }
        defer { _ = lock }
        let context = try FolderContext(folder, state: state)
        let before = try context.index.sequence()
        let outcome: PullOutcome
        do { outcome = try Puller(context: context, remote: RemoteFolder(session: session, folder: folder.id.rawValue), peer: peer).run() }
        catch { log.warning("folder \(folder.id): pull from \(peer.short) on its offer failed: \(error)"); throw error }
        let problems = outcome.problems.map { "folder \(folder.id): \($0)" }
        for p in problems { log.warning("\(p)") }
        log.info("folder \(folder.id): pulled from \(peer.short) on its offer: \(outcome.changes.count) changes, \(outcome.filesFetched) files fetched, now at \(outcome.sequence) here")
        if outcome.sequence > before { try? NoticeBoard(state).post(folder.id, sequence: outcome.sequence) }
        return problems
    }
}

/// `sync pull --follow`: keeps a link to the peer open, pulling on each notice; dials again with
/// backoff and jitter when the link drops; returns on SIGTERM or SIGINT.
func follow(_ remote: String, spec: RemoteSpec, folder: Folder, state: StateDirectory, retryMax: Double) {
    StopSignal.install()
    stopWithDaemon()
    var log = makeLogger("sync-pull")
    log[metadataKey: "folder"] = "\(folder.id)"
    let links = LinkBoard(state)
    var status = LinkStatus(folder: folder.id.rawValue, peer: "", role: .dial)
    status.remote = remote
    defer { links.remove(status) }
    var delay = 1.0
    while !StopSignal.requested {
        status.state = .connecting
        status.since = Date().timeIntervalSince1970
        links.write(status)
        var upAt: Date?
        do {
            var dialer = Dialer(state: state)
            dialer.warn = { log.notice("\($0)") }
            let dialed = try dialer.dial(spec)
            defer { dialed.connection.close() }
            let server = FolderServer(state: state, peer: dialed.peer)
            pullOnOffer(server, state: state, peer: dialed.peer, log: log)
            dialed.session.handler = server
            let loop = LinkLoop(session: dialed.session, server: server, state: state, peer: dialed.peer, following: folder)
            loop.log = log
            loop.remoteName = remote
            loop.stopRequested = { StopSignal.requested }
            let settings = try LinkSettings.fromEnvironment()
            loop.keepalive = settings.keepalive
            loop.idleTimeout = settings.idleTimeout
            status.peer = dialed.peer.rawValue
            upAt = Date()
            status.lastError = nil
            try loop.run()
            if !StopSignal.requested { log.notice("host \(dialed.name): the link closed") }
        } catch let e as RemoteError where e.code == .notFound {
            status.lastError = "folder \(folder.id): not found on the peer (or this node is not allowed to see it)"
            log.error("\(remote): \(status.lastError!)")
        } catch {
            status.lastError = "\(error)"
            log.warning("\(remote): \(error)")
        }
        if StopSignal.requested { break }
        if let upAt, Date().timeIntervalSince(upAt) > 30 { delay = 1 }
        let wait = min(delay, retryMax) * Double.random(in: 0.5...1.5)
        status.state = .waiting
        status.since = Date().timeIntervalSince1970
        status.retryAt = status.since + wait
        links.write(status)
        log.info("\(remote): dialing again in \(String(format: "%.1f", wait)) s")
        StopSignal.sleep(wait)
        status.retryAt = nil
        delay = min(delay * 2, retryMax)
    }
}
