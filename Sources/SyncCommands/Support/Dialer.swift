import Foundation
import SyncCore
import SyncEngine
import SyncSSH

extension SSHConnection: Transport {}

/// Opens a link to a peer: `~/.ssh/config` applied, libssh2 connection, pinned host key checked,
/// node key authentication, `sync-serve` started (a forced command on the peer), handshake done.
struct Dialer {
    let state: StateDirectory
    var environment: [String: String] = ProcessInfo.processInfo.environment
    var warn: (String) -> Void = { _ in }
    /// For a join: the invite key to log in with (a private key file with its `.pub` beside it),
    /// used instead of the node key and any IdentityFile.
    var loginKey: String?
    /// For a join: the host key the invite token names; the server must show exactly it (it is then
    /// pinned), and a different key already pinned for the host is an error.
    var expectedHostKey: HostKey?

    struct Dialed {
        let connection: SSHConnection
        let session: Session
        let peer: NodeID
        let name: String
    }

    func dial(_ spec: RemoteSpec) throws -> Dialed {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let resolved = SSHConfig.user(environment).resolve(spec.host, home: home)
        let (user, host, port) = Endpoint(spec, environment: environment).parts
        let identity = try state.identity()
        let known = KnownHosts(path: state.nodePath + "/known_hosts")
        let name = KnownHosts.name(host: host, port: port)
        let settings = try LinkSettings.fromEnvironment(environment)
        let connection = try SSHConnection(host: host, port: port, timeoutSeconds: Int(settings.callTimeout.rounded(.up))) { key in
            let offered = NodeIdentity.fingerprint(of: key.blob)
            if let expected = expectedHostKey, expected.type != key.type || expected.blob != key.blob {
                throw SyncError.peer("""
                    host \(name): its host key is \(key.type) \(offered), not the \(expected.type) \
                    \(NodeIdentity.fingerprint(of: expected.blob)) the invite names; refusing to connect. On the \
                    inviting machine, name the public host key file its sshd uses (sshd -T | grep hostkey) with \
                    sync keys invite --host-key FILE
                    """)
            }
            if let pinned = known.lookup(host: host, port: port) ?? KnownHosts.lookup(in: home + "/.ssh/known_hosts", name: name) {
                guard pinned.type == key.type && pinned.blob == key.blob else {
                    throw SyncError.peer("""
                        host \(name): the host key has changed (it is now \(key.type) \(offered), pinned \
                        \(pinned.type) \(NodeIdentity.fingerprint(of: pinned.blob))); refusing to connect. If the \
                        change is expected, remove the line for \(name) from \(known.path)
                        """)
                }
                if known.lookup(host: host, port: port) == nil { try known.pin(host: host, port: port, type: key.type, blob: key.blob) }
            } else {
                try known.pin(host: host, port: port, type: key.type, blob: key.blob)
                warn("host \(name): pinned its \(key.type) host key \(offered) in \(known.path)")
            }
        }
        let privateKey = loginKey ?? resolved.identityFile ?? identity.privateKeyPath
        try connection.authenticate(user: user, privateKey: privateKey,
                                    publicKey: FileManager.default.fileExists(atPath: privateKey + ".pub") ? privateKey + ".pub" : nil)
        try connection.exec("sync-serve")
        // The call timeout is the connection's here: its link thread's reads give up after it.
        let session = Session(link: Link(connection), identity: identity, dialing: true)
        let peer: NodeID
        do { peer = try session.handshake(names: NodeNames(state)) } catch {
            let err = connection.standardError().trimmingCharacters(in: .whitespacesAndNewlines)
            throw SyncError.peer("host \(name): no sync link (\(err.isEmpty ? "\(error)" : err))")
        }
        return Dialed(connection: connection, session: session, peer: peer, name: name)
    }
}

/// Where a remote leads once `~/.ssh/config` and the defaults are applied: two spellings of one
/// peer (`desktop`, `root@desktop:22`) lead to the same endpoint.
struct Endpoint: Equatable {
    let user: String
    let host: String
    let port: Int

    init(_ spec: RemoteSpec, environment: [String: String]) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let resolved = SSHConfig.user(environment).resolve(spec.host, home: home)
        host = resolved.hostName
        port = spec.port ?? resolved.port ?? 22
        user = spec.user ?? resolved.user ?? environment["USER"] ?? currentUserName()
    }

    var parts: (String, String, Int) { (user, host, port) }
}

func currentUserName() -> String {
    guard let pw = getpwuid(getuid()), let n = pw.pointee.pw_name else { return "root" }
    return String(cString: n)
}
