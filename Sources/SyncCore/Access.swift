import Foundation

/// A peer's ed25519 public key, validated from an OpenSSH public key line.
public struct PeerKey: Sendable, Equatable {
    public let rawKey: [UInt8]
    public let id: NodeID
    /// `ssh-ed25519 <base64> <comment>` as this node writes it.
    public let line: String

    public init(line text: String) throws {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, fields[0] == "ssh-ed25519", let blob = Data(base64Encoded: String(fields[1])),
              blob.count == 51, Array(blob.prefix(19)) == NodeIdentity.publicBlob([]).prefix(15) + [0, 0, 0, 32] else {
            throw SyncError.invalidArgument("\(text.prefix(60)): not an ssh-ed25519 public key line")
        }
        self.init(rawKey: Array(blob.suffix(32)))
    }

    /// The key whose raw 32 bytes a handshake proved.
    public init(rawKey: [UInt8]) {
        self.rawKey = rawKey
        id = NodeIdentity.nodeID(ofRawKey: rawKey)
        line = NodeIdentity.publicKeyLine(ofRawKey: rawKey, comment: "sync:" + id.short)
    }
}

/// Which peers may see a folder: `SYNC_DIR/folders/<id>/authorized_keys`, one key line per peer.
public enum FolderAccess {
    static func path(_ directory: String) -> String { directory + "/authorized_keys" }

    /// The keys allowed for `folder`.
    public static func keys(of folder: Folder) throws -> [PeerKey] {
        guard let data = FileManager.default.contents(atPath: path(folder.directory)) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { try? PeerKey(line: String($0)) }
    }

    /// Adds `key`; false when it was already there.
    @discardableResult
    public static func allow(_ key: PeerKey, for folder: Folder) throws -> Bool {
        var keys = try keys(of: folder)
        guard !keys.contains(where: { $0.id == key.id }) else { return false }
        keys.append(key)
        try write(keys, folder)
        return true
    }

    /// Removes the key of `node`; false when it was not there.
    @discardableResult
    public static func deny(_ node: NodeID, for folder: Folder) throws -> Bool {
        let keys = try keys(of: folder)
        guard keys.contains(where: { $0.id == node }) else { return false }
        try write(keys.filter { $0.id != node }, folder)
        return true
    }

    private static func write(_ keys: [PeerKey], _ folder: Folder) throws {
        try FileSystem.writeAtomically(Array(keys.map { $0.line + "\n" }.joined().utf8), to: path(folder.directory), mode: 0o600)
    }

    /// Which folders one peer may see: a map from folder id to folder, built from every folder's key
    /// file at once and built again when any key file, config or the set of folders changes (checked
    /// on every request, by stat). A request costs the same whichever folder it names and however
    /// many keys a folder lists, so a denied folder and a missing one cannot be told apart by time:
    /// the work never depends on the folder asked for, only the final lookup does.
    public final class Cache {
        private var stamp: [Int] = []
        private var visible: [String: Folder] = [:]

        public init() {}

        /// The folder `reference` (a folder id) names if `peer` may see it now, else nil: the same
        /// nil for a folder that does not exist.
        public func authorizedFolder(_ reference: String, peer: NodeID, state: StateDirectory) -> Folder? {
            let names = Self.folderNames(state)
            let now = Self.stamp(state.foldersPath) + names.flatMap { name in
                let directory = state.foldersPath + "/" + name
                return Self.stamp(FolderAccess.path(directory)) + Self.stamp(directory + "/config")
            }
            if now != stamp {
                visible = [:]
                for name in names {
                    guard let id = try? FolderID(name), let folder = try? Folder(id: id, stateDirectory: state),
                          (try? FolderAccess.keys(of: folder))?.contains(where: { $0.id == peer }) == true else { continue }
                    visible[id.rawValue] = folder
                }
                stamp = now
            }
            return visible[reference]
        }

        private static func folderNames(_ state: StateDirectory) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: state.foldersPath)) ?? []).sorted()
        }

        private static func stamp(_ path: String) -> [Int] {
            var st = stat()
            guard stat(path, &st) == 0 else { return [-1, Int(errno)] }
            return [Int(st.st_dev), Int(st.st_ino), Int(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                    st.st_ctim.tv_sec, st.st_ctim.tv_nsec]
        }
    }

    /// Every peer key allowed for any folder of the node, one per node id.
    public static func allKeys(_ state: StateDirectory) throws -> [PeerKey] {
        var seen = Set<NodeID>(), out: [PeerKey] = []
        for f in try state.folders() { for k in try keys(of: f) where seen.insert(k.id).inserted { out.append(k) } }
        return out
    }
}

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
            throw SyncError.invalidArgument("\(s): \(what) contains a quote, backslash or newline, which a forced command cannot hold")
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

/// Host keys this node has pinned: `SYNC_DIR/node/known_hosts`, lines of `[host]:port type base64`.
public struct KnownHosts: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    public static func name(host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }

    /// The pinned key (type and blob) for `host:port`, if any.
    public func lookup(host: String, port: Int) -> (type: String, blob: [UInt8])? {
        Self.lookup(in: path, name: Self.name(host: host, port: port))
    }

    /// A key for the name in an OpenSSH-style known_hosts file (plain host names only; hashed lines are skipped).
    public static func lookup(in file: String, name: String) -> (type: String, blob: [UInt8])? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ")
            guard f.count >= 3, f[0].split(separator: ",").contains(where: { $0 == name }),
                  let blob = Data(base64Encoded: String(f[2])) else { continue }
            return (String(f[1]), Array(blob))
        }
        return nil
    }

    /// Pins `type`/`blob` for `host:port`, replacing an older pin.
    public func pin(host: String, port: Int, type: String, blob: [UInt8]) throws {
        let name = Self.name(host: host, port: port)
        var lines: [String] = []
        if let data = FileManager.default.contents(atPath: path) {
            lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
                .filter { $0.split(separator: " ").first.map(String.init) != name }
        }
        lines.append("\(name) \(type) \(Data(blob).base64EncodedString())")
        try FileSystem.makeDirectories((path as NSString).deletingLastPathComponent, mode: 0o700)
        try FileSystem.writeAtomically(Array(lines.map { $0 + "\n" }.joined().utf8), to: path)
    }
}

/// Where a folder lives on a peer: `[user@]host:FOLDER` or `ssh://[user@]host[:port]/FOLDER`.
public struct RemoteSpec: Sendable, Equatable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?
    public var folder: FolderID

    public init(_ text: String) throws {
        func bad(_ why: String) -> SyncError { .invalidArgument("\(text): not a remote (\(why)); use host:FOLDER-ID or ssh://[user@]host[:port]/FOLDER-ID") }
        var rest = Substring(text)
        var folderText: Substring
        if rest.hasPrefix("ssh://") {
            rest = rest.dropFirst(6)
            guard let slash = rest.firstIndex(of: "/") else { throw bad("no folder") }
            folderText = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if let at = rest.lastIndex(of: "@") { user = String(rest[..<at]); rest = rest[rest.index(after: at)...] }
            if rest.hasPrefix("[") , let close = rest.firstIndex(of: "]") {
                host = String(rest[rest.index(after: rest.startIndex)..<close])
                let after = rest[rest.index(after: close)...]
                if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { throw bad("bad port") }; port = p }
            } else if let colon = rest.lastIndex(of: ":") {
                guard let p = Int(rest[rest.index(after: colon)...]) else { throw bad("bad port") }
                port = p
                host = String(rest[..<colon])
            } else { host = String(rest) }
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw bad("no ':'") }
            folderText = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
            if let at = rest.lastIndex(of: "@") { user = String(rest[..<at]); rest = rest[rest.index(after: at)...] }
            host = String(rest)
        }
        guard !host.isEmpty, !host.hasPrefix("-"), host.allSatisfy({ $0.isLetter || $0.isNumber || "._-:".contains($0) }) else { throw bad("bad host") }
        if let p = port, !(1...65535).contains(p) { throw bad("bad port") }
        if let u = user, u.isEmpty || u.hasPrefix("-") { throw bad("bad user") }
        guard let id = try? FolderID(String(folderText)) else { throw bad("'\(folderText)' is not a folder id") }
        folder = id
    }

    public var description: String {
        "ssh://" + Self.address(user: user, host: host, port: port) + "/" + folder.rawValue
    }

    /// `[user@]host[:port]`, an IPv6 host in brackets.
    public static func address(user: String?, host: String, port: Int?) -> String {
        (user.map { $0 + "@" } ?? "") + (host.contains(":") ? "[\(host)]" : host) + (port.map { ":\($0)" } ?? "")
    }

    /// Reads `[user@]host[:port]` as the address part of a remote, with the same checks.
    public static func address(_ text: String) throws -> (user: String?, host: String, port: Int?) {
        let spec = try RemoteSpec("ssh://" + text + "/" + FolderID.random().rawValue)
        return (spec.user, spec.host, spec.port)
    }
}
