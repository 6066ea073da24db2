import Foundation

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
