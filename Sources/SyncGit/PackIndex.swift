import CGit2
import Foundation

/// The multi-pack-index: one sorted table of every packed object. libgit2 looks for an object in
/// each pack in turn unless such an index covers the pack, and a pull writes a pack per batch: at
/// a thousand packs every lookup of an object not yet stored (one or two per file pulled) cost
/// ~0.3 ms, most of a million-file pull's time. Plain git reads the same file.
extension HistoryRepository {
    static let multiPackIndex = "multi-pack-index"

    /// Writes the multi-pack-index anew over every pack when the packs it does not cover reach
    /// `max(8, covered / 16)` (past 128 packs, once each time their number grows by a sixteenth:
    /// rewrites grow with the log of the packs, not with the packs). Best effort: without it, lookups are slower, not wrong.
    /// Only for a writer of history (they hold the folder lock).
    public func indexPacksWhenMany() {
        let packs = packNames()
        let covered = coveredPackCount() ?? 0
        guard packs.count - covered >= Swift.max(8, covered / 16) else { return }
        try? writeMultiPackIndex(packs)
    }

    /// The `.idx` names of this repository's packs.
    func packNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack")) ?? [])
            .filter { $0.hasPrefix("pack-") && $0.hasSuffix(".idx") }
    }

    /// How many packs the multi-pack-index names (its header), nil when there is none.
    func coveredPackCount() -> Int? {
        guard let f = FileHandle(forReadingAtPath: path + "/objects/pack/" + Self.multiPackIndex) else { return nil }
        defer { try? f.close() }
        guard let header = try? f.read(upToCount: 12), header.count == 12, header.prefix(4) == Data("MIDX".utf8) else { return nil }
        return header.suffix(4).reduce(0) { $0 << 8 | Int($1) }
    }

    /// A multi-pack-index over `idx` (names in the pack directory), written through libgit2 (a lock
    /// file, then a rename).
    func writeMultiPackIndex(_ idx: [String]) throws {
        var writer: OpaquePointer?
        try GitError.check(git_midx_writer_new(&writer, path + "/objects/pack"), "start a multi-pack-index")
        defer { git_midx_writer_free(writer) }
        for name in idx.sorted() {
            try GitError.check(git_midx_writer_add(writer, name), "add \(name) to the multi-pack-index")
        }
        try GitError.check(git_midx_writer_commit(writer), "write the multi-pack-index")
    }

    /// Removes the multi-pack-index (before packs it names go: libgit2 drops one that names a
    /// missing pack and looks in each pack again, and git reports it as an error).
    func removeMultiPackIndex() {
        unlink(path + "/objects/pack/" + Self.multiPackIndex)
    }
}
