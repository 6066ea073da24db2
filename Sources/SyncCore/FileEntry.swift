/// One row of a folder's index: what this node knows of one path.
public struct FileEntry: Sendable, Equatable {
    public enum Kind: String, Sendable { case file, symlink, directory }

    public var path: RelativePath
    public var kind: Kind
    /// Git blob id (hex) of the content, or of the link target for a symlink; nil for directories and deletions.
    public var hash: String?
    public var size: Int64
    public var mtimeNs: Int64
    public var ctimeNs: Int64
    public var inode: UInt64
    public var executable: Bool
    public var symlinkTarget: String?
    public var deleted: Bool
    public var version: VersionVector
    /// The folder sequence number at which this row last changed.
    public var sequence: Int64

    public init(path: RelativePath, kind: Kind, hash: String? = nil, size: Int64 = 0, mtimeNs: Int64 = 0,
                ctimeNs: Int64 = 0, inode: UInt64 = 0, executable: Bool = false, symlinkTarget: String? = nil,
                deleted: Bool = false, version: VersionVector = VersionVector(), sequence: Int64 = 0) {
        self.path = path; self.kind = kind; self.hash = hash; self.size = size; self.mtimeNs = mtimeNs
        self.ctimeNs = ctimeNs; self.inode = inode; self.executable = executable
        self.symlinkTarget = symlinkTarget; self.deleted = deleted; self.version = version
        self.sequence = sequence
    }

    /// Whether the content (not just the stat data) of two rows is the same.
    public func sameContent(as other: FileEntry) -> Bool {
        kind == other.kind && deleted == other.deleted && hash == other.hash
            && executable == other.executable && symlinkTarget == other.symlinkTarget
    }
}

extension FileEntry {
    /// `rows` in the same order, except that each deleted file whose content was a file row's of
    /// `rows` (`formerHash`: the hash it had before it was deleted) comes right after that row: a
    /// rename recorded so keeps its two rows side by side in sequence order, so that a peer that
    /// pulls a batch at a time sees both in one batch and moves the file instead of copying it.
    public static func keepingRenamesTogether(_ rows: [FileEntry], formerHash: (FileEntry) -> String?) -> [FileEntry] {
        var gone: [String: [Int]] = [:]
        for (i, r) in rows.enumerated() where r.deleted && r.kind == .file {
            if let h = formerHash(r) { gone[h, default: []].append(i) }
        }
        guard !gone.isEmpty else { return rows }
        var placed = Array(repeating: false, count: rows.count)
        var out: [FileEntry] = []
        out.reserveCapacity(rows.count)
        for (i, r) in rows.enumerated() where !placed[i] {
            out.append(r)
            placed[i] = true
            guard !r.deleted, r.kind == .file, let h = r.hash, let ds = gone[h] else { continue }
            if let d = ds.first(where: { !placed[$0] }) {
                out.append(rows[d])
                placed[d] = true
            }
        }
        return out
    }
}

/// The part of an index row that a scan compares with `lstat`: enough to tell "unchanged".
public struct IndexStat: Sendable, Equatable {
    public var kind: FileEntry.Kind
    public var size: Int64
    public var mtimeNs: Int64
    public var ctimeNs: Int64
    public var inode: UInt64
    public var executable: Bool
    public var deleted: Bool

    public init(kind: FileEntry.Kind, size: Int64, mtimeNs: Int64, ctimeNs: Int64, inode: UInt64,
                executable: Bool, deleted: Bool) {
        self.kind = kind; self.size = size; self.mtimeNs = mtimeNs; self.ctimeNs = ctimeNs
        self.inode = inode; self.executable = executable; self.deleted = deleted
    }

    public init(_ e: FileEntry) {
        self.init(kind: e.kind, size: e.size, mtimeNs: e.mtimeNs, ctimeNs: e.ctimeNs, inode: e.inode,
                  executable: e.executable, deleted: e.deleted)
    }
}
