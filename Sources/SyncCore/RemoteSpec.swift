import Foundation

/// Where a folder lives on a peer: `[user@]host:FOLDER` or `ssh://[user@]host[:port]/FOLDER`.
public struct RemoteSpec: Sendable, Equatable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?
    public var folder: FolderID

    public init(_ text: String) throws {
        func bad(_ why: String) -> SyncError { .malformed("\(text): not a remote (\(why)); use host:FOLDER-ID or ssh://[user@]host[:port]/FOLDER-ID") }
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
