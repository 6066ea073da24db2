import Foundation
import SyncCore

/// What to do with one remote index row against the local one: pure, decided by version vectors.
public enum Reconcile {
    public enum Decision: Equatable, Sendable {
        /// Nothing to do: the local row is as new or newer.
        case skip
        /// Make the remote version the local one, recorded with `version`.
        case take(version: VersionVector)
        /// Keep the local content, recorded with `version` (which dominates both) so it spreads.
        case keepLocal(version: VersionVector)
        /// Concurrent edits: `remoteWins` tells which version keeps the path; the other is kept
        /// beside it as `copy`; the path is recorded with `version`, the merge of both.
        case conflict(remoteWins: Bool, copy: RelativePath, version: VersionVector)
    }

    /// `resolver` is this node: a merge that keeps one side's content over the other's is a change
    /// of this node's, and bumps its counter. Without that, two nodes that settle different
    /// concurrent pairs (a deletion against two different edits, say) could give two different
    /// contents the same version, and never exchange them again.
    public static func decide(local: FileEntry?, remote: FileEntry, resolver: NodeID) -> Decision {
        guard let local else { return .take(version: remote.version) }
        switch remote.version.compare(local.version) {
        case .newer: return .take(version: remote.version)
        case .equal, .older: return .skip
        case .concurrent: break
        }
        let union = local.version.merged(with: remote.version)
        // The same content (or both gone, or both directories) on both sides: nothing was chosen.
        if local.sameContent(as: remote) || (local.deleted && remote.deleted) { return .keepLocal(version: union) }
        if local.kind == .directory && remote.kind == .directory { return .keepLocal(version: union) }
        let merged = union.bumped(by: resolver)
        // Delete against modify: the modification wins.
        if local.deleted { return .take(version: merged) }
        if remote.deleted { return .keepLocal(version: merged) }
        let remoteWins: Bool
        if local.kind == .directory || remote.kind == .directory {
            remoteWins = remote.kind == .directory // a directory keeps its path; the file moves aside
        } else if remote.mtimeNs != local.mtimeNs {
            remoteWins = remote.mtimeNs > local.mtimeNs
        } else {
            remoteWins = author(of: remote.version, against: local.version) > author(of: local.version, against: remote.version)
        }
        let loser = remoteWins ? local : remote
        let winner = remoteWins ? remote : local
        // The copy's name holds the losing content's id: two conflicts settled on two nodes in one
        // second cannot give two contents one name (where one would replace the other).
        return .conflict(remoteWins: remoteWins,
                         copy: conflictCopy(of: loser.path, mtimeNs: loser.mtimeNs,
                                            node: author(of: loser.version, against: winner.version),
                                            tag: String((loser.hash ?? "").prefix(7))),
                         version: merged)
    }

    /// The node whose change made `v` concurrent with `other`: the greatest node id whose counter
    /// in `v` is ahead. Both sides compute the same one, so both name a conflict copy alike.
    static func author(of v: VersionVector, against other: VersionVector) -> String {
        v.counters.filter { $0.value > (other.counters[$0.key] ?? 0) }.keys.max() ?? ""
    }

    static let marker = ".sync-conflict-"

    /// `dir/name.sync-conflict-YYYYMMDD-HHMMSS-NODE-TAG.ext` for `dir/name.ext`: NODE is the first 8
    /// characters of the node that made the losing change, TAG the first 7 of its content id.
    static func conflictCopy(of path: RelativePath, mtimeNs: Int64, node: String, tag: String? = nil) -> RelativePath {
        let name = path.name
        var stem = name, ext = ""
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            stem = String(name[..<dot]); ext = String(name[dot...])
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        let date = f.string(from: Date(timeIntervalSince1970: Double(mtimeNs) / 1e9))
        let who = String(node.prefix(8)) + (tag.map { "-" + $0 } ?? "")
        var copy = "\(stem)\(marker)\(date)-\(who)\(ext)"
        if copy.utf8.count > 255 { copy = "\(stem.utf8.prefix(180).count == stem.utf8.count ? stem : String(stem.prefix(60)))\(marker)\(date)-\(who)" }
        return (try? path.parent.map { try $0.appending(copy) } ?? RelativePath(copy)) ?? path
    }

    /// A conflict copy's name cut at the marker: what stands before it, and what follows it
    /// (YYYYMMDD-HHMMSS-NODE8, a content tag -HHHHHHH when there is one, then the extension);
    /// nil when `name` is not a conflict copy's.
    private static func copyParts(_ name: String) -> (stem: Substring, after: Substring)? {
        guard let r = name.range(of: marker), name[r.upperBound...].count >= 24 else { return nil }
        return (name[..<r.lowerBound], name[r.upperBound...])
    }

    /// The start of the id of the node named in a conflict copy's name (NODE), or nil.
    static func node(ofCopy path: RelativePath) -> String? {
        guard let (_, after) = copyParts(path.name) else { return nil }
        let node = after.dropFirst(16).prefix(8)
        return node.allSatisfy({ $0.isLetter || $0.isNumber }) ? String(node).lowercased() : nil
    }

    /// The path a conflict copy stands beside, or nil when `path` is not a conflict copy.
    public static func original(ofCopy path: RelativePath) -> RelativePath? {
        let name = path.name
        guard let (stem, after) = copyParts(name) else { return nil }
        var ext = after.dropFirst(24)
        if ext.count >= 8, ext.first == "-", ext.dropFirst().prefix(7).allSatisfy(\.isHexDigit),
           ext.count == 8 || ext.dropFirst(8).first == "." {
            ext = ext.dropFirst(8)
        }
        let original = String(stem) + ext
        guard !original.isEmpty else { return nil }
        return try? path.parent.map { try $0.appending(original) } ?? RelativePath(original)
    }
}
