import CGit2
import Foundation

/// Trees: built from a base with updates applied, looked into, walked; paths are the folder's
/// real names (names git refuses are stored under TreeName's escape).
extension HistoryRepository {
    /// The id of the empty tree (stored), used for empty directories.
    public func emptyTree() throws -> ObjectID {
        var bld: OpaquePointer?
        try GitError.check(git_treebuilder_new(&bld, repo, nil), "new tree")
        defer { git_treebuilder_free(bld) }
        var oid = git_oid()
        try GitError.check(git_treebuilder_write(&oid, bld), "write empty tree")
        return ObjectID(oid)
    }

    /// Builds a tree from the tree `base` (or the empty tree) with `updates` applied.
    /// Removals of paths that are not in the tree, or that lie below another removal, are skipped.
    /// Paths are the folder's real names; names git refuses are stored under `TreeName`'s escape.
    public func tree(from base: ObjectID?, applying updates: [Update]) throws -> ObjectID {
        try tree(from: base, applyingStored: updates.map { u in
            switch u {
            case .upsert(let p, let id, let mode): return .upsert(path: TreeName.escape(path: p), id: id, mode: mode)
            case .remove(let p): return .remove(path: TreeName.escape(path: p))
            }
        })
    }

    /// `tree(from:applying:)` for paths as history stores them (already escaped).
    func tree(from base: ObjectID?, applyingStored updates: [Update]) throws -> ObjectID {
        var baseTree: OpaquePointer?
        var o = try base?.oid ?? emptyTree().oid
        try GitError.check(git_tree_lookup(&baseTree, repo, &o), "read tree \(base?.short ?? "empty")")
        defer { git_tree_free(baseTree) }
        let upserted = Set(updates.compactMap { u -> String? in
            if case .upsert(let p, _, _) = u { return p }
            return nil
        })
        let upsertedFiles = Set(updates.compactMap { u -> String? in
            if case .upsert(let p, _, let m) = u, m != .directory { return p }
            return nil
        })
        let removed = Set(updates.compactMap { u -> String? in
            if case .remove(let p) = u { return p }
            return nil
        })
        // Paths that an upsert puts something at, or puts something below.
        let occupied = upserted.union(upserted.flatMap(Self.ancestors))
        var first: [Update] = [], rest: [Update] = []
        for u in updates {
            guard case .remove(let p) = u else { rest.append(u); continue }
            if Self.ancestors(p).contains(where: { upsertedFiles.contains($0) || removed.contains($0) }) { continue }
            guard Self.entry(baseTree, p) != nil else { continue }
            // libgit2 will not replace a tree by a blob (or the reverse) in one update, nor take
            // two updates of one path: clear such places first, then build on that.
            if occupied.contains(p) { first.append(u) } else { rest.append(u) }
        }
        // Implicit replacements: a blob where the base has a tree or the reverse, and a path below
        // what the base has as a blob or link.
        var clearing = Set(first.compactMap { u -> String? in
            if case .remove(let p) = u { return p }
            return nil
        })
        // Each directory of the base looked up once (a batch puts many files in few directories).
        var looked: Set<String> = []
        for u in updates {
            guard case .upsert(let p, _, let mode) = u else { continue }
            if let (_, baseMode) = Self.entry(baseTree, p), (baseMode == .directory) != (mode == .directory),
               !clearing.contains(p) {
                clearing.insert(p); first.append(.remove(path: p))
            }
            for a in Self.ancestors(p) where !clearing.contains(a) {
                // An ancestor looked at before is either cleared already or not to be cleared;
                // so are its own ancestors.
                guard looked.insert(a).inserted else { break }
                if let (_, baseMode) = Self.entry(baseTree, a), baseMode != .directory {
                    clearing.insert(a); first.append(.remove(path: a))
                }
            }
        }
        if first.isEmpty { return try apply(rest, to: baseTree) }
        let cleared = try apply(first, to: baseTree)
        return try tree(from: cleared, applyingStored: rest)
    }

    private func apply(_ effective: [Update], to baseTree: OpaquePointer?) throws -> ObjectID {
        if effective.isEmpty { return ObjectID(git_tree_id(baseTree)!.pointee) }
        // libgit2 keeps pointers to the path strings: keep them alive for the call.
        let cPaths = effective.map { u -> UnsafeMutablePointer<CChar> in
            switch u {
            case .upsert(let p, _, _), .remove(let p): return strdup(p)!
            }
        }
        defer { cPaths.forEach { free($0) } }
        var cUpdates = zip(effective, cPaths).map { (u, p) -> git_tree_update in
            var cu = git_tree_update()
            cu.path = UnsafePointer(p)
            switch u {
            case .upsert(_, let id, let mode):
                cu.action = GIT_TREE_UPDATE_UPSERT
                cu.id = id.oid
                cu.filemode = git_filemode_t(mode.rawValue)
            case .remove:
                cu.action = GIT_TREE_UPDATE_REMOVE
            }
            return cu
        }
        var out = git_oid()
        try GitError.check(git_tree_create_updated(&out, repo, baseTree, cUpdates.count, &cUpdates), "build tree")
        return ObjectID(out)
    }

    static func ancestors(_ p: String) -> [String] {
        var out: [String] = []
        var s = Substring(p)
        // On bytes, as the path's components are (RelativePath.problem).
        while let i = s.utf8.lastIndex(of: UInt8(ascii: "/")) { s = s[..<i]; out.append(String(s)) }
        return out
    }

    private static func entry(_ tree: OpaquePointer?, _ path: String) -> (ObjectID, Mode?)? {
        var e: OpaquePointer?
        guard git_tree_entry_bypath(&e, tree, path) == 0 else { return nil }
        defer { git_tree_entry_free(e) }
        return (ObjectID(git_tree_entry_id(e)!.pointee), Mode(rawValue: git_tree_entry_filemode(e).rawValue))
    }

    /// The object id and mode at `path` in `tree`, or nil when absent.
    public func entry(inTree tree: ObjectID, path: String) throws -> (id: ObjectID, mode: Mode?)? {
        var t: OpaquePointer?
        var o = tree.oid
        try GitError.check(git_tree_lookup(&t, repo, &o), "read tree \(tree.short)")
        defer { git_tree_free(t) }
        return Self.entry(t, TreeName.escape(path: path)).map { (id: $0.0, mode: $0.1) }
    }

    /// The object id and mode at `path` in `commit`'s tree, or nil when absent.
    public func entry(inCommit commit: ObjectID, path: String) throws -> (id: ObjectID, mode: Mode?)? {
        try entry(inTree: self.commit(commit).tree, path: path)
    }

    /// Every blob and link below `tree`, recursively, as (path, id, mode); directories that are empty too.
    /// Paths are real names (`TreeName` escapes undone).
    public func walk(tree: ObjectID, _ body: (String, ObjectID, Mode?) throws -> Void) throws {
        var t: OpaquePointer?
        var o = tree.oid
        try GitError.check(git_tree_lookup(&t, repo, &o), "read tree \(tree.short)")
        defer { git_tree_free(t) }
        let count = git_tree_entrycount(t)
        for i in 0..<count {
            guard let e = git_tree_entry_byindex(t, i) else { continue }
            let name = TreeName.unescape(String(cString: git_tree_entry_name(e)))
            let id = ObjectID(git_tree_entry_id(e)!.pointee)
            let mode = Mode(rawValue: git_tree_entry_filemode(e).rawValue)
            if mode == .directory {
                var empty = true
                try walk(tree: id) { p, i, m in empty = false; try body(name + "/" + p, i, m) }
                if empty { try body(name, id, .directory) }
            } else {
                try body(name, id, mode)
            }
        }
    }
}
