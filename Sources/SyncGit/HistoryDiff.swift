import CGit2
import Foundation

/// Differences between two trees, in git's patch format.
extension HistoryRepository {
    /// A file changed between two trees, as `diff` reports it.
    public struct FileDiff: Sendable {
        public let oldPath: String
        public let newPath: String
        public let oldSize: Int64
        public let newSize: Int64
        public let binary: Bool
    }

    /// The unified diff (git's patch format, 3 lines of context) from tree `old` (nil: empty) to
    /// tree `new`, limited to `paths` (and what is below them) when given; and per file its sizes
    /// and whether it is binary (then the patch says only that it differs).
    public func diff(from old: ObjectID?, to new: ObjectID, paths: [String] = []) throws -> (patch: String, files: [FileDiff]) {
        func tree(_ id: ObjectID?) throws -> OpaquePointer? {
            guard let id else { return nil }
            var t: OpaquePointer?
            var o = id.oid
            try GitError.check(git_tree_lookup(&t, repo, &o), "read tree \(id.short)")
            return t
        }
        let a = try tree(old), b = try tree(new)
        defer { git_tree_free(a); git_tree_free(b) }
        var opts = git_diff_options()
        try GitError.check(git_diff_options_init(&opts, UInt32(GIT_DIFF_OPTIONS_VERSION)), "diff options")
        // A path is taken literally (no glob), and names itself and what is below it.
        opts.flags = GIT_DIFF_DISABLE_PATHSPEC_MATCH.rawValue
        var cPaths = paths.map { strdup(TreeName.escape(path: $0)) }
        defer { cPaths.forEach { free($0) } }
        var d: OpaquePointer?
        try cPaths.withUnsafeMutableBufferPointer { buf in
            opts.pathspec = git_strarray(strings: buf.baseAddress, count: buf.count)
            try GitError.check(git_diff_tree_to_tree(&d, repo, a, b, &opts), "diff trees")
        }
        defer { git_diff_free(d) }
        var out = git_buf()
        defer { git_buf_dispose(&out) }
        try GitError.check(git_diff_to_buf(&out, d, GIT_DIFF_FORMAT_PATCH), "format diff")
        let patch = Self.unescapeHeaders(out.ptr.map { String(cString: $0) } ?? "")
        var files: [FileDiff] = []
        for i in 0..<git_diff_num_deltas(d) {
            guard let delta = git_diff_get_delta(d, i)?.pointee else { continue }
            files.append(FileDiff(oldPath: TreeName.unescape(path: String(cString: delta.old_file.path)),
                                  newPath: TreeName.unescape(path: String(cString: delta.new_file.path)),
                                  oldSize: Int64(delta.old_file.size), newSize: Int64(delta.new_file.size),
                                  binary: delta.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0))
        }
        return (patch, files)
    }

    /// A patch's header lines with the escaped names of `TreeName` read back (content lines stay).
    static func unescapeHeaders(_ patch: String) -> String {
        guard patch.contains("%") else { return patch }
        let headers = ["diff --git ", "--- ", "+++ ", "rename from ", "rename to ", "copy from ", "copy to ", "Binary files "]
        var inHunk = false
        return patch.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("diff --git ") { inHunk = false }
            if line.hasPrefix("@@") { inHunk = true }
            guard !inHunk, headers.contains(where: { line.hasPrefix($0) }) else { return String(line) }
            return TreeName.unescape(path: String(line))
        }.joined(separator: "\n")
    }
}
