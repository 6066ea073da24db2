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

    /// Every live conflict copy of `folders`, as their indexes record them.
    public static func all(in folders: [Folder]) throws -> [ConflictCopy] {
        var rows: [ConflictCopy] = []
        for f in folders {
            let index = try FolderIndex(path: f.indexPath)
            for e in try index.allEntries() where !e.deleted && e.kind != .directory {
                guard let original = Reconcile.original(ofCopy: e.path) else { continue }
                let live = try index.entry(original).flatMap { $0.deleted ? nil : $0 }
                rows.append(ConflictCopy(folder: f.id.rawValue, path: original.rawValue, copy: e.path.rawValue,
                                         keptHash: live?.hash, keptSize: live?.size, otherHash: e.hash, otherSize: e.size))
            }
        }
        return rows
    }
}
