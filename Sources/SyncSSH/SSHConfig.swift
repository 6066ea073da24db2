import Foundation

/// What `~/.ssh/config` says about a host: the parts sync honours (HostName, Port, User, IdentityFile).
/// As in OpenSSH, the first value found for a keyword wins, and `Host` patterns may use `*`, `?` and `!`.
public struct SSHConfig: Sendable {
    public struct Resolved: Sendable, Equatable {
        public var hostName: String
        public var port: Int?
        public var user: String?
        public var identityFile: String?
    }

    struct Block { var patterns: [String]; var options: [(String, String)] }
    private let blocks: [Block]

    public init(text: String) {
        var blocks = [Block(patterns: ["*"], options: [])]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var keyword = "", rest = Substring(line)
            if let i = rest.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "=" }) {
                keyword = String(rest[..<i]).lowercased()
                rest = rest[i...].drop(while: { $0 == " " || $0 == "\t" || $0 == "=" })
            } else { continue }
            var value = rest.trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if keyword == "host" {
                blocks.append(Block(patterns: value.split(separator: " ").map(String.init), options: []))
            } else if keyword == "match" {
                blocks.append(Block(patterns: [], options: [])) // not supported: its options apply to no host
            } else {
                blocks[blocks.count - 1].options.append((keyword, value))
            }
        }
        self.blocks = blocks
    }

    /// The settings for `alias`, with `%h` in HostName and `~` in IdentityFile expanded.
    public func resolve(_ alias: String, home: String) -> Resolved {
        var values: [String: String] = [:]
        for b in blocks where Self.matches(alias, b.patterns) {
            for (k, v) in b.options where values[k] == nil { values[k] = v }
        }
        var r = Resolved(hostName: alias)
        if let h = values["hostname"] { r.hostName = h.replacingOccurrences(of: "%h", with: alias) }
        if let p = values["port"] { r.port = Int(p) }
        r.user = values["user"]
        if var f = values["identityfile"] {
            if f.hasPrefix("~/") { f = home + f.dropFirst(1) }
            r.identityFile = f
        }
        return r
    }

    static func matches(_ host: String, _ patterns: [String]) -> Bool {
        var matched = false
        for p in patterns {
            if p.hasPrefix("!") {
                if glob(Array(p.dropFirst().utf8), Array(host.utf8)) { return false }
            } else if glob(Array(p.utf8), Array(host.utf8)) {
                matched = true
            }
        }
        return matched
    }

    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == s[si] { pi += 1; si += 1 }
            else if pi < p.count, p[pi] == UInt8(ascii: "*") { star = pi; mark = si; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; si = mark }
            else { return false }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

extension SSHConfig {
    /// The dialing user's config: SYNC_SSH_CONFIG, else ~/.ssh/config (empty when unreadable).
    public static func user(_ environment: [String: String]) -> SSHConfig {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let text = (try? String(contentsOfFile: environment["SYNC_SSH_CONFIG"] ?? home + "/.ssh/config", encoding: .utf8)) ?? ""
        return SSHConfig(text: text)
    }
}

/// What this machine's sshd says about itself in its configuration file (SYNC_SSHD_CONFIG, else
/// /etc/ssh/sshd_config): the first port it listens on and its host keys, for an invite that
/// names where and how the other machine reaches it.
public struct SSHDConfig: Sendable, Equatable {
    public var port: Int?
    /// Private host key files, in order (`HostKey`); the public key is beside each, with `.pub`.
    public var hostKeys: [String] = []

    /// `read` gives the text of a file an `Include` names (relative names are under /etc/ssh, as
    /// sshd reads them; globs are expanded), for Debian's `Include /etc/ssh/sshd_config.d/*.conf`.
    public init(text: String, read: (String) -> String? = { _ in nil }) {
        var ended = false
        parse(text, read: read, depth: 0, ended: &ended)
    }

    private mutating func parse(_ text: String, read: (String) -> String?, depth: Int, ended: inout Bool) {
        for raw in text.split(whereSeparator: \.isNewline) where !ended {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "=" })
            guard words.count >= 2, !words[0].hasPrefix("#") else { continue }
            switch words[0].lowercased() {
            case "port": if port == nil, let p = Int(words[1]), (1...65535).contains(p) { port = p }
            case "hostkey": hostKeys.append(String(words[1]))
            case "include" where depth < 8:
                for pattern in words.dropFirst() {
                    let full = pattern.hasPrefix("/") ? String(pattern) : "/etc/ssh/" + pattern
                    for file in Self.glob(full) { if let t = read(file) { parse(t, read: read, depth: depth + 1, ended: &ended) } }
                }
            case "match": ended = true // what follows applies to some connections only
            default: continue
            }
        }
    }

    /// The files a pattern names, sorted (as sshd takes them).
    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    public static func system(_ environment: [String: String]) -> SSHDConfig {
        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        return SSHDConfig(text: read(environment["SYNC_SSHD_CONFIG"] ?? "/etc/ssh/sshd_config") ?? "", read: read)
    }

    /// The public key file of the host key a client of this sshd is shown: the first ed25519
    /// `HostKey` (libssh2 and sync prefer it), else OpenSSH's default one.
    public var publicHostKey: String {
        (hostKeys.first(where: { $0.contains("ed25519") }) ?? hostKeys.first).map { $0 + ".pub" }
            ?? "/etc/ssh/ssh_host_ed25519_key.pub"
    }
}
