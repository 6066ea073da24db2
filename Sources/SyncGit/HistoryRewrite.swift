import CGit2
import Foundation

/// What pruning needs of a history: commits written without moving `main`, a walk of what a set
/// of commits reaches, a new pack of it, a compare-and-swap of `main`, and the removal of every
/// other object. The caller holds the folder's lock through all of it; the order that keeps every
/// wanted version through a crash is the caller's (see `Pruner`).
extension HistoryRepository {
    static let stampName = "sync-rewritten"

    static func readStamp(_ path: String) -> String? {
        (try? String(contentsOfFile: path + "/" + stampName, encoding: .utf8))
    }

    /// When the history at `path` was last rewritten (pruned), if ever.
    public static func lastRewrite(at path: String) -> Date? {
        var st = stat()
        guard stat(path + "/" + stampName, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec))
    }

    /// Opens the repository anew when a prune rewrote it since this handle was opened: an old
    /// handle may still see objects of packs that are gone, and must not take them as stored.
    public func reopenIfRewritten() throws {
        let now = Self.readStamp(path)
        guard now != stamp else { return }
        var fresh: OpaquePointer?
        try GitError.check(git_repository_open_bare(&fresh, path), "open history at \(path)")
        git_repository_free(repo)
        repo = fresh!
        stamp = now
    }

    /// Tells every other handle on this repository to open it anew (`reopenIfRewritten`). Replaced
    /// atomically but not synced: only live processes read it, and after a power cut none is left
    /// with an old handle.
    public func markRewritten() throws {
        let value = UUID().uuidString
        do { try value.write(toFile: path + "/" + Self.stampName, atomically: true, encoding: .utf8) } catch {
            throw GitError(operation: "write \(path)/\(Self.stampName)", message: "\(error)", code: -1)
        }
        stamp = value
    }

    /// Writes a copy of commit `original` (same tree, author, committer and times) with `parent`
    /// and `message`, without moving any reference; returns its id.
    public func copyCommit(_ original: ObjectID, parent: ObjectID?, message: String) throws -> ObjectID {
        var c: OpaquePointer?
        var o = original.oid
        try GitError.check(git_commit_lookup(&c, repo, &o), "read commit \(original.short)")
        defer { git_commit_free(c) }
        var tree: OpaquePointer?
        try GitError.check(git_commit_tree(&tree, c), "read the tree of \(original.short)")
        defer { git_tree_free(tree) }
        return try createCommit(updating: nil, author: git_commit_author(c), committer: git_commit_committer(c),
                                message: message, tree: tree, parent: parent)
    }

    /// The size of an object's content, read from its header only.
    public func objectSize(_ id: ObjectID) throws -> Int64 {
        var odb: OpaquePointer?
        try GitError.check(git_repository_odb(&odb, repo), "open object database")
        defer { git_odb_free(odb) }
        var len = 0
        var type = GIT_OBJECT_ANY
        var o = id.oid
        try GitError.check(git_odb_read_header(&len, &type, odb, &o), "read object \(id.short)")
        return Int64(len)
    }

    /// Visits the trees and blobs reachable from `tree` that are not in `seenTrees`/`seenBlobs`
    /// yet (a tree seen before adds nothing: all below it was seen with it), adding them. Calls
    /// `tree` for each new tree (it returns whether to go below it) and `blob` for each new blob
    /// (file content or link target), with the entry's name (a pack builder pairs objects of like
    /// names to find deltas).
    public func walkNew(tree root: ObjectID, name: String = "", seenTrees: inout Set<ObjectID>, seenBlobs: inout Set<ObjectID>,
                        tree onTree: (ObjectID, String) throws -> Bool, blob onBlob: (ObjectID, String) throws -> Void) throws {
        guard seenTrees.insert(root).inserted, try onTree(root, name) else { return }
        var t: OpaquePointer?
        var o = root.oid
        try GitError.check(git_tree_lookup(&t, repo, &o), "read tree \(root.short)")
        defer { git_tree_free(t) }
        for i in 0..<git_tree_entrycount(t) {
            guard let e = git_tree_entry_byindex(t, i) else { continue }
            let id = ObjectID(git_tree_entry_id(e)!.pointee)
            switch git_tree_entry_type(e) {
            case GIT_OBJECT_TREE:
                try walkNew(tree: id, name: String(cString: git_tree_entry_name(e)), seenTrees: &seenTrees,
                            seenBlobs: &seenBlobs, tree: onTree, blob: onBlob)
            case GIT_OBJECT_BLOB:
                if seenBlobs.insert(id).inserted { try onBlob(id, String(cString: git_tree_entry_name(e))) }
            default:
                continue
            }
        }
    }

    /// What `writePack` wrote.
    public struct Pack: Sendable {
        /// The pack's name: `objects/pack/pack-NAME.pack` and `.idx`.
        public let name: String
        /// Reachable blobs left loose because they are larger than the pack takes.
        public let loose: Set<ObjectID>
    }

    /// Builds one pack of what `fill` inserts (an object id and, for deltas, its entry's name),
    /// writes it to `objects/pack` and syncs it; returns its name, nil when nothing was inserted.
    private func buildPack(_ fill: ((ObjectID, String?) throws -> Void) throws -> Void) throws -> String? {
        var pb: OpaquePointer?
        try GitError.check(git_packbuilder_new(&pb, repo), "start a pack")
        defer { git_packbuilder_free(pb) }
        _ = git_packbuilder_set_threads(pb, 0) // as many as there are processors
        var count = 0
        try fill { id, name in
            var o = id.oid
            try GitError.check(git_packbuilder_insert(pb, &o, name), "add \(id.short) to the pack")
            count += 1
        }
        guard count > 0 else { return nil }
        let packDir = path + "/objects/pack"
        try GitError.check(git_packbuilder_write(pb, packDir, 0, nil, nil), "write the pack")
        guard let cname = git_packbuilder_name(pb) else {
            throw GitError(operation: "write the pack", message: "no pack name", code: -1)
        }
        let name = String(cString: cname)
        for ext in ["pack", "idx"] { try Durable.sync(packDir + "/pack-\(name).\(ext)") }
        try Durable.sync(packDir)
        return name
    }

    /// Writes one pack of `commits` and every tree and blob they reach, except loose blobs above
    /// `looseAbove` bytes, which stay loose objects (a pack builder holds each object whole in
    /// memory). The pack and its index are synced to disk before this returns.
    public func writePack(commits: [ObjectID], looseAbove: Int64, progress: ((Int, Int) -> Void)? = nil) throws -> Pack? {
        var seenTrees = Set<ObjectID>(), seenBlobs = Set<ObjectID>(), loose = Set<ObjectID>()
        let name = try buildPack { insert in
            for (n, c) in commits.enumerated() {
                try insert(c, nil)
                try walkNew(tree: try commit(c).tree, seenTrees: &seenTrees, seenBlobs: &seenBlobs,
                            tree: { try insert($0, $1); return true }) { blob, name in
                    // A large blob that some other writer packed goes into the new pack all the same:
                    // the old packs go.
                    if try objectSize(blob) > looseAbove, isLoose(blob) { loose.insert(blob) } else { try insert(blob, name) }
                }
                progress?(n + 1, commits.count)
            }
        }
        return name.map { Pack(name: $0, loose: loose) }
    }

    /// How many packs the repository has.
    public func packCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack")) ?? [])
            .filter { $0.hasPrefix("pack-") && $0.hasSuffix(".idx") }.count
    }

    /// Packs the commits made since the last pack (the loose ones, newest back to the first packed
    /// one) and the loose trees and blobs they reach (blobs up to `looseAbove` bytes), named for
    /// deltas, into one new pack, synced; then removes those loose objects and leftovers of
    /// interrupted writes (`removeTemporaries`: the caller holds the folder lock). Packs already
    /// there stay as they are; unreachable loose objects wait for a full repack. Returns how many
    /// objects were packed.
    @discardableResult
    public func packRecent(looseAbove: Int64) throws -> Int {
        var packed: [ObjectID] = []
        var seenTrees = Set<ObjectID>(), seenBlobs = Set<ObjectID>()
        _ = try buildPack { insert in
            func add(_ id: ObjectID, _ name: String?) throws { try insert(id, name); packed.append(id) }
            var next = try head()
            while let id = next, isLoose(id) {
                try add(id, nil)
                let c = try commit(id)
                // A packed tree has all below it packed (or too large to pack) already.
                try walkNew(tree: c.tree, seenTrees: &seenTrees, seenBlobs: &seenBlobs, tree: { t, name in
                    guard isLoose(t) else { return false }
                    try add(t, name)
                    return true
                }) { blob, name in
                    if isLoose(blob), try objectSize(blob) <= looseAbove { try add(blob, name) }
                }
                next = c.parents.first
            }
        }
        for id in packed { unlink(looseFile(id)) }
        removeTemporaries()
        return packed.count
    }

    /// Moves `main` to `new` if it still points at `expected`; the reference file is synced.
    public func moveMain(to new: ObjectID, expected: ObjectID?) throws {
        var ref: OpaquePointer?
        var n = new.oid
        if let expected {
            var e = expected.oid
            try GitError.check(git_reference_create_matching(&ref, repo, "refs/heads/main", &n, 1, &e, "prune"),
                               "move main from \(expected.short) to \(new.short)")
        } else {
            try GitError.check(git_reference_create(&ref, repo, "refs/heads/main", &n, 1, "prune"), "move main to \(new.short)")
        }
        git_reference_free(ref)
        // A packed ref would stay behind a deleted loose one; this history keeps main loose.
        let file = path + "/refs/heads/main"
        if FileManager.default.fileExists(atPath: file) { try Durable.sync(file) }
        try Durable.sync(path + "/refs/heads")
    }

    /// Where the object would be as a loose object.
    func looseFile(_ id: ObjectID) -> String { path + "/objects/" + id.hex.prefix(2) + "/" + id.hex.dropFirst(2) }

    /// Whether the object is stored as a loose object (it may be in a pack too).
    func isLoose(_ id: ObjectID) -> Bool { access(looseFile(id), F_OK) == 0 }

    /// Every loose object: its id and file.
    private func looseObjects() -> [(id: ObjectID, file: String)] {
        let objects = path + "/objects"
        var out: [(ObjectID, String)] = []
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? [] where dir.count == 2 {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: objects + "/" + dir)) ?? [] where f.count == 38 {
                if let id = try? ObjectID(hex: dir + f) { out.append((id, objects + "/" + dir + "/" + f)) }
            }
        }
        return out
    }

    /// Removes every object that is not in pack `keep` and not among `keepLoose`, and leftovers of
    /// interrupted writes (`removeTemporaries`: the caller holds the folder lock). Index files go
    /// before their packs, so a crash leaves no index without its pack.
    public func removeObjects(exceptPack keep: String, keepLoose: Set<ObjectID>) throws {
        let packDir = path + "/objects/pack"
        let packFiles = (try? FileManager.default.contentsOfDirectory(atPath: packDir)) ?? []
        removeMultiPackIndex() // it names the packs about to go
        for ext in ["idx", "rev", "keep", "bitmap", "pack"] {
            for f in packFiles where f.hasPrefix("pack-") && f.hasSuffix("." + ext) && f != "pack-\(keep).\(ext)" {
                unlink(packDir + "/" + f)
            }
        }
        for (id, file) in looseObjects() where !keepLoose.contains(id) { unlink(file) }
        removeTemporaries()
        try reopenIfRewritten()
    }

    /// Removes temporary files of interrupted object and pack writes, and empty loose object
    /// directories. Only for a caller that holds the folder lock: every writer of history holds it,
    /// so a temporary file found then is a dead writer's.
    private func removeTemporaries() {
        let objects = path + "/objects"
        let fm = FileManager.default
        // In the pack directory: libgit2's temporary files (tmp_*, pack_git2_*), and a pack whose
        // index is gone (an interrupted removal) or never came (an interrupted write).
        let packFiles = Set((try? fm.contentsOfDirectory(atPath: objects + "/pack")) ?? [])
        for f in packFiles where f != Self.multiPackIndex {
            let stem = f.hasPrefix("pack-") ? String(f.prefix(while: { $0 != "." })) : nil
            if let stem, packFiles.contains(stem + ".idx") { continue }
            unlink(objects + "/pack/" + f)
        }
        for entry in (try? fm.contentsOfDirectory(atPath: objects)) ?? [] {
            if entry.hasPrefix("tmp_") { unlink(objects + "/" + entry); continue }
            guard entry.count == 2 else { continue }
            for f in (try? fm.contentsOfDirectory(atPath: objects + "/" + entry)) ?? [] where f.hasPrefix("tmp_") {
                unlink(objects + "/" + entry + "/" + f)
            }
            rmdir(objects + "/" + entry) // only when empty
        }
    }

    /// Bytes the object store takes on disk (loose objects and packs).
    public func diskUsage() -> Int64 {
        var total: Int64 = 0
        guard let e = FileManager.default.enumerator(atPath: path + "/objects") else { return 0 }
        while let f = e.nextObject() as? String {
            var st = stat()
            if lstat(path + "/objects/" + f, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { total += Int64(st.st_blocks) * 512 }
        }
        return total
    }
}

/// Writes that reach the disk before the next step relies on them.
enum Durable {
    /// fsync of a file or a directory (both open read-only).
    static func sync(_ path: String) throws {
        func failure(_ what: String) -> GitError { GitError(operation: what, message: String(cString: strerror(errno)), code: -1) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync \(path)") }
    }
}
