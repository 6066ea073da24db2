import Foundation

/// Human names of nodes: this node's own (`SYNC_DIR/node/name`, else the host name), and the names
/// peers gave themselves in the handshake (`SYNC_DIR/node/names/NODE-ID`), for display only: a name
/// decides nothing (ids do), so a peer that lies about its name misleads no code.
public struct NodeNames: Sendable {
    public let directory: String

    public init(_ state: StateDirectory) { directory = state.nodePath }

    /// At most this many bytes of UTF-8.
    public static let maxBytes = 64

    /// A name as it may be shown: control characters, slashes and surrounding blanks gone, cut to
    /// `maxBytes` on a character boundary; nil when nothing is left.
    public static func clean(_ raw: String) -> String? {
        var out = ""
        for ch in raw where !ch.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "/" || $0 == "\u{7f}" }) {
            guard out.utf8.count + String(ch).utf8.count <= maxBytes else { break }
            out.append(ch)
        }
        let trimmed = out.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// This node's name: the one set (`sync keys name`), else the host name up to its first dot.
    public func own() -> String {
        if let data = FileManager.default.contents(atPath: directory + "/name"),
           let name = Self.clean(String(decoding: data, as: UTF8.self)) { return name }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        return Self.clean(host) ?? "node"
    }

    /// Sets this node's name (a valid one); returns it as stored.
    @discardableResult
    public func setOwn(_ name: String) throws -> String {
        guard let clean = Self.clean(name), clean == name.trimmingCharacters(in: .whitespaces) else {
            throw SyncError.malformed("\(name): not a node name (1 to \(Self.maxBytes) bytes, no control characters or slashes)")
        }
        try FileSystem.makeDirectories(directory, mode: 0o700)
        try FileSystem.writeAtomically(Array((clean + "\n").utf8), to: directory + "/name", mode: 0o600)
        return clean
    }

    /// The name `node` gave itself when last met, if ever.
    public func name(of node: NodeID) -> String? {
        FileManager.default.contents(atPath: directory + "/names/" + node.rawValue)
            .flatMap { Self.clean(String(decoding: $0, as: UTF8.self)) }
    }

    /// The name of the node whose id is `text` (as a row, a trailer or a link file spells it), if known.
    public func name(ofID text: String) -> String? { (try? NodeID(text)).flatMap { name(of: $0) } }

    /// Every node met with its name, by id.
    public func all() -> [NodeID: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/names")) ?? []
        var out: [NodeID: String] = [:]
        for n in names { if let id = try? NodeID(n), let name = name(of: id) { out[id] = name } }
        return out
    }

    /// Notes the name `node` gave (cleaned; nothing when it gave none or it is unchanged).
    public func note(_ raw: String?, for node: NodeID) {
        guard let raw, let clean = Self.clean(raw), name(of: node) != clean else { return }
        try? FileSystem.makeDirectories(directory + "/names", mode: 0o700)
        try? FileSystem.writeAtomically(Array((clean + "\n").utf8), to: directory + "/names/" + node.rawValue, mode: 0o600, durable: false)
    }

    /// How a node is shown: its name, else the start of its id.
    public func label(_ node: NodeID) -> String { name(of: node) ?? node.short }
}
