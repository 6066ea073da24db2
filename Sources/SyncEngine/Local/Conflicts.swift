import Foundation
import SyncCore

/// The conflict copies of a folder, each with the version kept at its path.
public struct ConflictCopy: Encodable, Sendable, Equatable {
    public let folder: String
    public let path: String
    public let copy: String
    /// The version at the path (nil: deleted there).
    public let keptHash: String?
    public let keptSize: Int64?
    public let otherHash: String?
    public let otherSize: Int64
    /// The first characters of the id of the node that made the other version (from the copy's name).
    public let node: String?
    /// That node's name, when this node knows it (`NodeNames`); set by `named`.
    public var madeOn: String?

    /// Every live conflict copy of `folders`, as their indexes record them.
    public static func all(in folders: [Folder]) throws -> [ConflictCopy] {
        var rows: [ConflictCopy] = []
        for f in folders {
            let index = try FolderIndex(path: f.indexPath)
            for e in try index.allEntries() where !e.deleted && e.kind != .directory {
                guard let original = Reconcile.original(ofCopy: e.path) else { continue }
                let live = try index.entry(original).flatMap { $0.deleted ? nil : $0 }
                rows.append(ConflictCopy(folder: f.id.rawValue, path: original.rawValue, copy: e.path.rawValue,
                                         keptHash: live?.hash, keptSize: live?.size, otherHash: e.hash, otherSize: e.size,
                                         node: Reconcile.node(ofCopy: e.path)))
            }
        }
        return rows
    }

    /// The rows with the name of the node that made each other version, where known: this node's
    /// own (`me`), else a peer's as it last gave it.
    public static func named(_ rows: [ConflictCopy], me: NodeID, names: NodeNames) -> [ConflictCopy] {
        let known = names.all()
        return rows.map { r in
            var r = r
            if let n = r.node {
                if me.rawValue.hasPrefix(n) { r.madeOn = names.own() + " (this node)" }
                else if let (_, name) = known.first(where: { $0.key.rawValue.hasPrefix(n) }) { r.madeOn = name }
            }
            return r
        }
    }
}
