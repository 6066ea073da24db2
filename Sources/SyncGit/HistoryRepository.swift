import CGit2
import Foundation

/// A folder's history: a bare git repository whose commits are snapshots of the folder.
/// One value owns one libgit2 handle; use it from one task at a time.
public final class HistoryRepository: @unchecked Sendable {
    /// Replaced when a prune rewrote the history (`reopenIfRewritten`).
    var repo: OpaquePointer
    public let path: String
    /// The rewrite stamp seen when the handle was opened.
    var stamp: String?

    /// Tree entry kinds as git stores them.
    public enum Mode: UInt32, Sendable {
        case file = 0o100644, executable = 0o100755, symlink = 0o120000, directory = 0o040000
    }

    /// One change to the tree of the next commit.
    public enum Update: Sendable, Equatable {
        case upsert(path: String, id: ObjectID, mode: Mode)
        case remove(path: String)
    }

    /// What a commit says of itself.
    public struct Commit: Sendable {
        public let id: ObjectID
        public let parents: [ObjectID]
        public let tree: ObjectID
        public let time: Date
        public let author: String
        public let message: String
    }

    /// Creates a bare repository at `path` with `main` as its branch; `worktree` is recorded in its config.
    public static func create(at path: String, worktree: String) throws -> HistoryRepository {
        _ = Libgit2.initialized
        var opts = git_repository_init_options()
        try GitError.check(git_repository_init_options_init(&opts, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)), "init options")
        opts.flags = GIT_REPOSITORY_INIT_BARE.rawValue | GIT_REPOSITORY_INIT_MKPATH.rawValue
        var repo: OpaquePointer?
        try "main".withCString { head in
            opts.initial_head = head
            try GitError.check(git_repository_init_ext(&repo, path, &opts), "create history at \(path)")
        }
        let r = HistoryRepository(repo!, path: path)
        try r.setConfig("sync.worktree", worktree)
        return r
    }

    /// Opens the repository at `path`.
    public init(openAt path: String) throws {
        _ = Libgit2.initialized
        var repo: OpaquePointer?
        try GitError.check(git_repository_open_bare(&repo, path), "open history at \(path)")
        self.repo = repo!
        self.path = path
        stamp = Self.readStamp(path)
    }

    private init(_ repo: OpaquePointer, path: String) {
        self.repo = repo
        self.path = path
        stamp = Self.readStamp(path)
    }

    deinit { git_repository_free(repo) }

    func setConfig(_ key: String, _ value: String) throws {
        var cfg: OpaquePointer?
        try GitError.check(git_repository_config(&cfg, repo), "open config")
        defer { git_config_free(cfg) }
        try GitError.check(git_config_set_string(cfg, key, value), "set \(key)")
    }

    // MARK: Objects

    /// Stores the file at `path` as a blob, streaming; returns its id (the git blob hash of the content).
    /// Large content that would not shrink is stored uncompressed (see `StoredObject`).
    public func writeBlob(fromFile path: String) throws -> ObjectID {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_size >= 256 << 10, StoredObject.incompressible(fd) {
                return try StoredObject.writeBlob(from: fd, size: Int64(st.st_size), objects: self.path + "/objects", what: path)
            }
        }
        var oid = git_oid()
        try GitError.check(git_blob_create_from_disk(&oid, repo, path), "store \(path)")
        return ObjectID(oid)
    }

    /// A blob of `size` bytes written as its bytes go by, stored uncompressed (see `LooseBlobSink`).
    public func blobSink(size: Int64) throws -> LooseBlobSink {
        try LooseBlobSink(objects: path + "/objects", size: size)
    }

    /// Stores `bytes` as a blob.
    public func writeBlob(_ bytes: [UInt8]) throws -> ObjectID {
        var oid = git_oid()
        try GitError.check(bytes.withUnsafeBytes { git_blob_create_from_buffer(&oid, repo, $0.baseAddress, $0.count) }, "store blob")
        return ObjectID(oid)
    }

    /// The git blob id of the file at `path`, streaming, without storing it.
    /// Streams the file through `BlobHasher` (the CPU's SHA instructions, about 3× libgit2's
    /// collision-detecting SHA-1 here); a file whose length changes while it is read is an error.
    /// `alongside`, when given, sees every piece hashed, in order.
    public static func hashFile(_ path: String, alongside: ((UnsafeRawBufferPointer) -> Void)? = nil) throws -> ObjectID {
        func fail(_ message: String) -> GitError { GitError(operation: "hash \(path)", message: message, code: -1) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail(String(cString: strerror(errno))) }
        let size = Int64(st.st_size)
        var hasher = BlobHasher(size: size)
        var buffer = [UInt8](repeating: 0, count: Int(min(size, 1 << 20)) + 1)
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw fail(String(cString: strerror(errno))) }
            if n == 0 { break }
            total += Int64(n)
            guard total <= size else { break }
            buffer.withUnsafeBytes {
                hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<n]))
                alongside?(UnsafeRawBufferPointer(rebasing: $0[..<n]))
            }
        }
        guard total == size else { throw fail("the file changed while it was read") }
        return try ObjectID(hex: hasher.finish())
    }

    /// The git blob id of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> ObjectID {
        _ = Libgit2.initialized
        var oid = git_oid()
        _ = bytes.withUnsafeBytes { git_odb_hash(&oid, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
        return ObjectID(oid)
    }

    /// Looks at the object directories again (a pack written through another handle is seen).
    public func refreshObjects() {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repo) == 0 else { return }
        defer { git_odb_free(odb) }
        _ = git_odb_refresh(odb)
    }

    /// Whether the object is stored here.
    public func contains(_ id: ObjectID) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repo) == 0 else { return false }
        defer { git_odb_free(odb) }
        var o = id.oid
        // No refresh on a miss: re-reading the pack directory for every absent object costs a
        // directory listing each; this node's own writes are seen without it.
        return git_odb_exists_ext(odb, &o, UInt32(GIT_ODB_LOOKUP_NO_REFRESH.rawValue)) == 1
    }

    private func withBlob<T>(_ id: ObjectID, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        var blob: OpaquePointer?
        var o = id.oid
        try GitError.check(git_blob_lookup(&blob, repo, &o), "read blob \(id.short)")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let p = git_blob_rawcontent(blob) else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: p, count: size))
    }

    /// A blob's bytes.
    public func blob(_ id: ObjectID) throws -> [UInt8] { try withBlob(id) { Array($0) } }

    /// A blob's size without copying it.
    public func blobSize(_ id: ObjectID) throws -> Int64 { try withBlob(id) { Int64($0.count) } }

    /// Writes a blob to an open file descriptor.
    public func write(blob id: ObjectID, to fd: Int32) throws {
        try withBlob(id) { buf in
            if let e = writeAll(fd, buf) {
                throw GitError(operation: "write blob \(id.short)", message: String(cString: strerror(e)), code: -1)
            }
        }
    }

    // MARK: Commits

    /// The commit `main` points at, or nil before the first commit.
    public func head() throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, repo, "refs/heads/main")
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try GitError.check(rc, "read refs/heads/main")
        return ObjectID(oid)
    }

    /// Removes the lock files (`refs/heads/main.lock`, `HEAD.lock`, `packed-refs.lock`, ...) left
    /// in the repository at `path` by a process killed while it wrote; returns them. Only for a
    /// caller that knows no other writer is at work (one holding the folder lock).
    @discardableResult
    public static func removeStaleLocks(at path: String) -> [String] {
        var found = ["HEAD.lock", "packed-refs.lock", "config.lock", "index.lock"].map { path + "/" + $0 }
        if let refs = FileManager.default.enumerator(atPath: path + "/refs") {
            for case let name as String in refs where name.hasSuffix(".lock") { found.append(path + "/refs/" + name) }
        }
        return found.filter { unlink($0) == 0 }
    }

    /// Writes a commit of `tree` on `parent`, moves `updating` (by default `main`; nil: none) to it
    /// and returns its id.
    public func commit(tree: ObjectID, parent: ObjectID?, message: String, author: String, email: String,
                       time: Date = Date(), updating ref: String? = "refs/heads/main") throws -> ObjectID {
        var sig: UnsafeMutablePointer<git_signature>?
        try GitError.check(git_signature_new(&sig, author, email, git_time_t(time.timeIntervalSince1970), 0), "signature")
        defer { git_signature_free(sig) }
        var treeObj: OpaquePointer?
        var to = tree.oid
        try GitError.check(git_tree_lookup(&treeObj, repo, &to), "read tree \(tree.short)")
        defer { git_tree_free(treeObj) }
        return try createCommit(updating: ref, author: sig, committer: sig, message: message,
                                tree: treeObj, parent: parent)
    }

    /// Writes a commit object (moving `ref` to it when given); the pointers are libgit2's, for this call.
    func createCommit(updating ref: String?, author: UnsafePointer<git_signature>?, committer: UnsafePointer<git_signature>?,
                      message: String, tree: OpaquePointer?, parent: ObjectID?) throws -> ObjectID {
        var parentObj: OpaquePointer?
        if let parent {
            var po = parent.oid
            try GitError.check(git_commit_lookup(&parentObj, repo, &po), "read commit \(parent.short)")
        }
        defer { if parentObj != nil { git_commit_free(parentObj) } }
        var out = git_oid()
        var parents: [OpaquePointer?] = parentObj == nil ? [] : [parentObj]
        try GitError.check(parents.withUnsafeMutableBufferPointer { buf in
            git_commit_create(&out, repo, ref, author, committer, "UTF-8", message, tree, buf.count, buf.baseAddress)
        }, "write commit")
        return ObjectID(out)
    }

    /// Resolves a revision (`main`, `HEAD~2`, an abbreviated id) to a commit.
    public func resolve(_ revision: String) throws -> ObjectID {
        var obj: OpaquePointer?
        try GitError.check(git_revparse_single(&obj, repo, revision), "resolve \(revision)")
        defer { git_object_free(obj) }
        var commit: OpaquePointer?
        try GitError.check(git_object_peel(&commit, obj, GIT_OBJECT_COMMIT), "\(revision): not a commit")
        defer { git_object_free(commit) }
        return ObjectID(git_object_id(commit)!.pointee)
    }

    /// Reads one commit.
    public func commit(_ id: ObjectID) throws -> Commit {
        var c: OpaquePointer?
        var o = id.oid
        try GitError.check(git_commit_lookup(&c, repo, &o), "read commit \(id.short)")
        defer { git_commit_free(c) }
        let n = git_commit_parentcount(c)
        let parents = (0..<n).compactMap { git_commit_parent_id(c, $0).map { ObjectID($0.pointee) } }
        let author = git_commit_author(c).map { String(cString: $0.pointee.name) } ?? ""
        return Commit(id: id, parents: parents, tree: ObjectID(git_commit_tree_id(c)!.pointee),
                      time: Date(timeIntervalSince1970: TimeInterval(git_commit_time(c))),
                      author: author, message: git_commit_message(c).map { String(cString: $0) } ?? "")
    }

    /// Walks commits from `main` back to the first, newest first; stop by returning false.
    public func log(_ body: (Commit) throws -> Bool) throws {
        guard try head() != nil else { return }
        var walk: OpaquePointer?
        try GitError.check(git_revwalk_new(&walk, repo), "walk history")
        defer { git_revwalk_free(walk) }
        try GitError.check(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue), "sort history")
        try GitError.check(git_revwalk_push_ref(walk, "refs/heads/main"), "walk main")
        var oid = git_oid()
        while git_revwalk_next(&oid, walk) == 0 {
            if try !body(commit(ObjectID(oid))) { break }
        }
    }
}
