import CGit2
import Foundation

/// The references a history keeps beside `main`: the chain of what this node authored
/// (`refs/authored`) and the authored chains of other nodes, fetched from peers
/// (`refs/peers/<node>/authored`). Each is a first-parent chain of snapshot commits.
extension HistoryRepository {
    /// This node's own chain: a commit for each commit of local changes, on the one before.
    public static let authoredRef = "refs/authored"
    static let peersPrefix = "refs/peers/"

    /// The reference under which another node's authored chain is kept. `node` is a node id
    /// (checked by the caller: base32, no `/` and no `.`).
    public static func peerRef(_ node: String) -> String { peersPrefix + node + "/authored" }

    /// What a reference points at, nil when there is none.
    public func reference(_ name: String) throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, repo, name)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try GitError.check(rc, "read \(name)")
        return ObjectID(oid)
    }

    /// The chains beside `main`: this node's authored chain and every reference under
    /// `refs/peers/` (other nodes' chains, and those kept aside when they were rewritten).
    public func sideChains() throws -> [(name: String, tip: ObjectID)] {
        var out: [(String, ObjectID)] = []
        if let own = try reference(Self.authoredRef) { out.append((Self.authoredRef, own)) }
        var it: OpaquePointer?
        try GitError.check(git_reference_iterator_glob_new(&it, repo, Self.peersPrefix + "*"), "list \(Self.peersPrefix)")
        defer { git_reference_iterator_free(it) }
        var ref: OpaquePointer?
        while git_reference_next(&ref, it) == 0 {
            defer { git_reference_free(ref) }
            guard let cname = git_reference_name(ref), let target = git_reference_target(ref) else { continue }
            out.append((String(cString: cname), ObjectID(target.pointee)))
        }
        return out
    }

    /// The commits of the first-parent chain from `tip`, newest first.
    public func chain(from tip: ObjectID) throws -> [Commit] {
        var out: [Commit] = []
        try walkChain(from: tip) { out.append($0); return true }
        return out
    }

    /// Each commit of the first-parent chain from `tip`, newest first, one at a time (none is
    /// kept); stop by returning false.
    public func walkChain(from tip: ObjectID, _ body: (Commit) throws -> Bool) throws {
        var next: ObjectID? = tip
        while let id = next {
            let c = try commit(id)
            guard try body(c) else { return }
            next = c.parents.first
        }
    }

    /// Points `name` at `new` if it still points at `expected` (nil: if it does not exist); with
    /// `sync`, the reference file and its directory are synced.
    public func setReference(_ name: String, to new: ObjectID, expected: ObjectID?, why: String, sync: Bool = true) throws {
        var ref: OpaquePointer?
        var n = new.oid
        if let expected {
            var e = expected.oid
            try GitError.check(git_reference_create_matching(&ref, repo, name, &n, 1, &e, why),
                               "move \(name) from \(expected.short) to \(new.short)")
        } else {
            try GitError.check(git_reference_create(&ref, repo, name, &n, 0, why), "create \(name) at \(new.short)")
        }
        git_reference_free(ref)
        guard sync else { return }
        // A packed ref would stay behind a deleted loose one; this history keeps its refs loose.
        let file = path + "/" + name
        if FileManager.default.fileExists(atPath: file) { try Durable.sync(file) }
        try Durable.sync((file as NSString).deletingLastPathComponent)
    }

    /// Removes a reference (a chain given up); nothing when there is none.
    public func removeReference(_ name: String) throws {
        let rc = git_reference_remove(repo, name)
        if rc == GIT_ENOTFOUND.rawValue { return }
        try GitError.check(rc, "remove \(name)")
    }

    /// Writes a commit of `tree` with `parent` and `message`, signed as the commit `like` is (author,
    /// committer, times), without moving any reference: an authored chain's copy of a main commit.
    /// When `parent` is `like`'s own parent, the copy is `like` itself.
    public func commit(like original: ObjectID, parent: ObjectID?) throws -> ObjectID {
        var c: OpaquePointer?
        var o = original.oid
        try GitError.check(git_commit_lookup(&c, repo, &o), "read commit \(original.short)")
        defer { git_commit_free(c) }
        let message = git_commit_message_raw(c).map { String(cString: $0) } ?? ""
        var tree: OpaquePointer?
        try GitError.check(git_commit_tree(&tree, c), "read the tree of \(original.short)")
        defer { git_tree_free(tree) }
        return try createCommit(updating: nil, author: git_commit_author(c), committer: git_commit_committer(c),
                                message: message, tree: tree, parent: parent)
    }

    /// The commits of the first-parent chain from `tip` (or from the parent of `below`), newest
    /// first, up to `limit` of them; the walk stops before `after` (not included). `reachedAfter`
    /// tells whether it was met (false: the chain does not hold it, or the limit came first).
    public func chain(from tip: ObjectID, below: ObjectID? = nil, after: ObjectID?, limit: Int) throws -> (commits: [ObjectID], reachedAfter: Bool) {
        var out: [ObjectID] = []
        var next: ObjectID? = try below.map { try commit($0).parents.first } ?? tip
        while let id = next, out.count < limit {
            if id == after { return (out, true) }
            out.append(id)
            next = try commit(id).parents.first
        }
        return (out, next != nil && next == after)
    }

    /// Whether `ancestor` is `id` or on the first-parent chain behind it (a walk of at most `limit` commits).
    public func firstParentChain(of id: ObjectID, holds ancestor: ObjectID, limit: Int = 1_000_000) throws -> Bool {
        var next: ObjectID? = id
        var n = 0
        while let c = next, n < limit {
            if c == ancestor { return true }
            next = try commit(c).parents.first
            n += 1
        }
        return false
    }
}
