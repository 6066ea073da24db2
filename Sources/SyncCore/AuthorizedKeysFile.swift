import Foundation

/// This node's managed block in an OpenSSH `authorized_keys` file: one forced-command line per peer
/// key. Lines outside the block are kept as they are; the file is replaced atomically, mode 0600.
public struct AuthorizedKeysFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// `SYNC_AUTHORIZED_KEYS`, else `~/.ssh/authorized_keys`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> AuthorizedKeysFile {
        if let p = env["SYNC_AUTHORIZED_KEYS"], !p.isEmpty { return AuthorizedKeysFile(path: p) }
        return AuthorizedKeysFile(path: (env["HOME"] ?? NSHomeDirectory()) + "/.ssh/authorized_keys")
    }

    static func markers(_ state: StateDirectory) -> (String, String) {
        ("# BEGIN sync \(state.root) (managed by sync keys; do not edit)", "# END sync \(state.root)")
    }

    /// The forced-command line for `key`.
    public static func line(for key: PeerKey, server: String, state: StateDirectory) throws -> String {
        try checkQuotable([("sync-serve path", server), ("state directory", state.root)])
        return "restrict,command=\"'\(server)' --state-dir '\(state.root)' --peer \(key.id)\" \(key.line)"
    }

    /// The forced-command line for an invite's key: it can only ask once to join the invite's folder.
    public func line(for invite: Invite, server: String, state: StateDirectory) throws -> String {
        try Self.checkQuotable([("sync-serve path", server), ("state directory", state.root), ("authorized_keys path", path)])
        return "restrict,command=\"'\(server)' --state-dir '\(state.root)' --invite \(try invite.id) --authorized-keys '\(path)'\" \(invite.key)"
    }

    private static func checkQuotable(_ values: [(String, String)]) throws {
        for (what, s) in values where s.contains(where: { $0 == "\"" || $0 == "\\" || $0 == "'" || $0 == "\n" }) {
            throw SyncError.malformed("\(s): \(what) contains a quote, backslash or newline, which a forced command cannot hold")
        }
    }

    /// Rewrites this node's block with one line per key in `keys` and per invite in `invites`
    /// (nothing to write removes the block).
    public func update(keys: [PeerKey], invites: [Invite] = [], server: String, state: StateDirectory) throws {
        let (begin, end) = Self.markers(state)
        var lines: [String] = []
        if let data = FileManager.default.contents(atPath: path) {
            lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
        }
        var kept: [String] = [], inside = false
        for l in lines {
            if l == begin { inside = true; continue }
            if inside { if l == end { inside = false }; continue }
            kept.append(l)
        }
        if !keys.isEmpty || !invites.isEmpty {
            kept.append(begin)
            for k in keys { kept.append(try Self.line(for: k, server: server, state: state)) }
            for i in invites { kept.append(try line(for: i, server: server, state: state)) }
            kept.append(end)
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: dir) { try FileSystem.makeDirectories(dir, mode: 0o700) }
        try FileSystem.writeAtomically(Array(kept.map { $0 + "\n" }.joined().utf8), to: path, mode: 0o600)
    }
}
