import CGit2
import Foundation

/// Objects moved between histories as git packs: a pack of named objects to send, and a pack
/// received from a peer, indexed and checked in a directory of its own before it joins history.
extension HistoryRepository {
    /// The objects a history exchanges.
    public enum ObjectKind: Sendable, Equatable { case commit, tree, blob }

    /// An object's kind and size from its header, nil when it is not here.
    public func header(_ id: ObjectID) -> (kind: ObjectKind?, size: Int64)? {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repo) == 0 else { return nil }
        defer { git_odb_free(odb) }
        var len = 0
        var type = GIT_OBJECT_ANY
        var o = id.oid
        guard git_odb_read_header(&len, &type, odb, &o) == 0 else { return nil }
        return (ObjectKind(type), Int64(len))
    }

    /// A pack of the objects `ids` names, in that order, as long as their sizes add up to at most
    /// `maxBytes` (the first always goes in); objects not here are left out. Returns the pack's bytes
    /// and how many of `ids` it took (counted from the front, missing ones included).
    public func pack(of ids: [ObjectID], maxBytes: Int64) throws -> (bytes: [UInt8], taken: Int) {
        var pb: OpaquePointer?
        try GitError.check(git_packbuilder_new(&pb, repo), "start a pack")
        defer { git_packbuilder_free(pb) }
        _ = git_packbuilder_set_threads(pb, 1)
        var total: Int64 = 0
        var taken = 0
        for id in ids {
            guard let h = header(id) else { taken += 1; continue }
            if taken > 0 && total + h.size > maxBytes { break }
            var o = id.oid
            try GitError.check(git_packbuilder_insert(pb, &o, nil), "add \(id.short) to a pack")
            total += h.size
            taken += 1
        }
        var buf = git_buf()
        try GitError.check(git_packbuilder_write_buf(&buf, pb), "write a pack")
        defer { git_buf_dispose(&buf) }
        guard let p = buf.ptr else { return ([], taken) }
        return (Array(UnsafeRawBufferPointer(start: p, count: buf.size)), taken)
    }

    /// The objects a tree names (gitlinks left out), with whether each is a tree.
    public func children(ofTree id: ObjectID) throws -> [(id: ObjectID, isTree: Bool)] {
        var t: OpaquePointer?
        var o = id.oid
        try GitError.check(git_tree_lookup(&t, repo, &o), "read tree \(id.short)")
        defer { git_tree_free(t) }
        return (0..<git_tree_entrycount(t)).compactMap { i in
            guard let e = git_tree_entry_byindex(t, i) else { return nil }
            switch git_tree_entry_type(e) {
            case GIT_OBJECT_TREE: return (ObjectID(git_tree_entry_id(e)!.pointee), true)
            case GIT_OBJECT_BLOB: return (ObjectID(git_tree_entry_id(e)!.pointee), false)
            default: return nil
            }
        }
    }

    /// The trees below `root` (itself included) that cannot be read, lost or corrupt; those that
    /// are loose objects are moved into `sync-corrupt/` (kept, not deleted), so that writing the
    /// same tree again stores it anew. Trees that read are walked; a corrupt packed tree stays.
    public func quarantineUnreadableTrees(from root: ObjectID) -> [ObjectID] {
        var unreadable: [ObjectID] = []
        var seen = Set<ObjectID>()
        func visit(_ id: ObjectID) {
            guard seen.insert(id).inserted else { return }
            guard let children = try? children(ofTree: id) else {
                unreadable.append(id)
                guard access(looseFile(id), F_OK) == 0 else { return }
                let dir = path + "/sync-corrupt"
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                _ = rename(looseFile(id), dir + "/" + id.hex)
                return
            }
            for c in children where c.isTree { visit(c.id) }
        }
        visit(root)
        return unreadable
    }

    /// Where packs from peers are indexed and checked before they join history.
    var incomingDirectory: String { path + "/sync-incoming" }

    /// A receiver for one pack from a peer (see `IncomingPack`). What an earlier receiver left
    /// (a killed process) goes first: only one exchange writes to a history at a time.
    public func incomingPack(limit: Int64) throws -> IncomingPack {
        try? FileManager.default.removeItem(atPath: incomingDirectory)
        return try IncomingPack(directory: incomingDirectory, limit: limit)
    }

    /// Moves a checked pack into `objects/pack` (pack first, then its index, both synced): from
    /// then on its objects are part of this history.
    public func install(_ pack: IncomingPack) throws {
        guard let name = pack.name else { throw GitError(operation: "install a pack", message: "the pack is not finished", code: -1) }
        let packDir = path + "/objects/pack"
        try FileManager.default.createDirectory(atPath: packDir, withIntermediateDirectories: true)
        for ext in ["pack", "idx"] {
            let from = pack.directory + "/pack/pack-\(name).\(ext)", to = packDir + "/pack-\(name).\(ext)"
            try Durable.sync(from)
            guard rename(from, to) == 0 else {
                throw GitError(operation: "install \(to)", message: String(cString: strerror(errno)), code: -1)
            }
        }
        try Durable.sync(packDir)
        refreshObjects()
    }
}

extension HistoryRepository.ObjectKind {
    init?(_ type: git_object_t) {
        switch type {
        case GIT_OBJECT_COMMIT: self = .commit
        case GIT_OBJECT_TREE: self = .tree
        case GIT_OBJECT_BLOB: self = .blob
        default: return nil
        }
    }
}

/// One object of a received pack, as checked: its kind, and the objects it names (a commit: its
/// tree, then its parents; a tree: its entries' objects, with whether each is a tree).
public struct ReceivedObject: Sendable {
    public let id: ObjectID
    public let kind: HistoryRepository.ObjectKind
    public var tree: ObjectID? = nil
    public var parents: [ObjectID] = []
    public var entries: [(id: ObjectID, isTree: Bool)] = []
}

/// A pack from a peer, streamed into libgit2's indexer (which computes every object's id from its
/// bytes and refuses a pack that is cut, corrupt or thin) in a directory of its own, at most
/// `limit` bytes. `finish` then reads each object back and checks it: only commits, trees and
/// blobs, and commits and trees that parse. Nothing of it is in history until `install`.
public final class IncomingPack {
    public let directory: String
    let limit: Int64
    private var indexer: OpaquePointer?
    private var stats = git_indexer_progress()
    public private(set) var bytes: Int64 = 0
    public private(set) var name: String?
    /// Commits and trees above these sizes are refused (a tree of 100,000 entries is ~4 MB).
    static let maxCommitBytes = 1 << 20
    static let maxTreeBytes = 64 << 20

    init(directory: String, limit: Int64) throws {
        self.directory = directory
        self.limit = limit
        try FileManager.default.createDirectory(atPath: directory + "/pack", withIntermediateDirectories: true)
        var opts = git_indexer_options()
        try GitError.check(git_indexer_options_init(&opts, UInt32(GIT_INDEXER_OPTIONS_VERSION)), "indexer options")
        try GitError.check(git_indexer_new(&indexer, directory + "/pack", 0o444, nil, &opts), "start indexing a pack")
    }

    deinit {
        if indexer != nil { git_indexer_free(indexer) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func fail(_ message: String) -> GitError { GitError(operation: "receive a pack", message: message, code: -1) }

    /// Takes the next bytes of the pack.
    public func append(_ piece: [UInt8]) throws {
        bytes += Int64(piece.count)
        guard bytes <= limit else { throw fail("larger than \(limit) bytes") }
        try GitError.check(piece.withUnsafeBytes { git_indexer_append(indexer, $0.baseAddress, $0.count, &stats) }, "index a pack")
    }

    /// Ends the pack: the indexer checks its trailer and writes its index; then every object is read
    /// back and checked. Returns the objects, in id order.
    public func finish() throws -> [ReceivedObject] {
        try GitError.check(git_indexer_commit(indexer, &stats), "index a pack")
        guard let cname = git_indexer_name(indexer) else { throw fail("no pack name") }
        name = String(cString: cname)
        let ids = try Self.ids(ofIndex: directory + "/pack/pack-\(name!).idx")
        var odb: OpaquePointer?
        try GitError.check(git_odb_new(&odb), "open a pack")
        defer { git_odb_free(odb) }
        try GitError.check(git_odb_add_disk_alternate(odb, directory), "open a pack")
        return try ids.map { id in
            var o = id.oid
            var len = 0
            var type = GIT_OBJECT_ANY
            try GitError.check(git_odb_read_header(&len, &type, odb, &o), "read \(id.short) of a pack")
            guard let kind = HistoryRepository.ObjectKind(type) else { throw fail("\(id.short): not a commit, tree or blob") }
            if kind == .blob { return ReceivedObject(id: id, kind: .blob) }
            guard len <= (kind == .commit ? Self.maxCommitBytes : Self.maxTreeBytes) else { throw fail("\(id.short): a \(kind) of \(len) bytes") }
            var obj: OpaquePointer?
            try GitError.check(git_odb_read(&obj, odb, &o), "read \(id.short) of a pack")
            defer { git_odb_object_free(obj) }
            let raw = UnsafeRawBufferPointer(start: git_odb_object_data(obj), count: git_odb_object_size(obj))
            var valid: Int32 = 0
            try GitError.check(git_object_rawcontent_is_valid(&valid, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, type),
                               "check \(id.short)")
            guard valid == 1 else { throw fail("\(id.short): a \(kind) that does not parse") }
            return kind == .commit ? try Self.commit(id, raw) : try Self.tree(id, raw)
        }
    }

    /// The ids a pack index (version 2) lists.
    public static func ids(ofIndex path: String) throws -> [ObjectID] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GitError(operation: "read \(path)", message: "cannot be read", code: -1)
        }
        let b = [UInt8](data)
        func u32(_ at: Int) -> Int { b[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        guard b.count >= 8 + 1024, b[0..<4] == [0xff, 0x74, 0x4f, 0x63], u32(4) == 2 else {
            throw GitError(operation: "read \(path)", message: "not a version 2 pack index", code: -1)
        }
        let n = u32(8 + 255 * 4)
        guard b.count >= 1032 + n * 20 else { throw GitError(operation: "read \(path)", message: "cut short", code: -1) }
        return (0..<n).map { i in
            b.withUnsafeBytes { rawID(UnsafeRawBufferPointer(rebasing: $0[(1032 + i * 20)..<(1032 + i * 20 + 20)])) }
        }
    }

    /// The id whose 20 bytes `raw` holds.
    static func rawID(_ raw: UnsafeRawBufferPointer) -> ObjectID {
        var o = git_oid()
        _ = git_oid_fromraw(&o, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        return ObjectID(o)
    }

    /// A commit's tree and parents, from its header lines.
    static func commit(_ id: ObjectID, _ raw: UnsafeRawBufferPointer) throws -> ReceivedObject {
        var r = ReceivedObject(id: id, kind: .commit)
        var start = 0
        while start < raw.count {
            let end = raw[start...].firstIndex(of: 0x0a) ?? raw.count
            if end == start { break } // the blank line before the message
            let line = String(decoding: raw[start..<end], as: UTF8.self)
            if line.hasPrefix("tree ") { r.tree = try ObjectID(hex: String(line.dropFirst(5))) }
            if line.hasPrefix("parent ") { r.parents.append(try ObjectID(hex: String(line.dropFirst(7)))) }
            start = end + 1
        }
        guard r.tree != nil else { throw GitError(operation: "read commit \(id.short)", message: "no tree", code: -1) }
        return r
    }

    /// A tree's entries: `<octal mode> <name>\0<20-byte id>`, each; gitlinks (mode 160000) name
    /// commits of other repositories and are skipped.
    static func tree(_ id: ObjectID, _ raw: UnsafeRawBufferPointer) throws -> ReceivedObject {
        var r = ReceivedObject(id: id, kind: .tree)
        var at = 0
        func bad() -> GitError { GitError(operation: "read tree \(id.short)", message: "malformed entry at byte \(at)", code: -1) }
        while at < raw.count {
            guard let space = raw[at...].firstIndex(of: 0x20), let nul = raw[space...].firstIndex(of: 0), nul + 21 <= raw.count else { throw bad() }
            let mode = String(decoding: raw[at..<space], as: UTF8.self)
            let entry = rawID(UnsafeRawBufferPointer(rebasing: raw[(nul + 1)..<(nul + 21)]))
            at = nul + 21
            if mode == "160000" { continue }
            r.entries.append((entry, mode == "40000"))
        }
        return r
    }
}
