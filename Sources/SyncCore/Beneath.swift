import Foundation

/// File operations inside a folder that never follow a symbolic link on the way: each directory
/// of a path is opened with O_NOFOLLOW from its parent, so a link planted in the folder cannot send
/// a peer's write (or a read for a peer) anywhere else.
public enum Beneath {
    /// A descriptor of the directory `path` (nil: the root itself) under `root`; missing
    /// directories are made when `create` is true (each one made is passed to `made`, outermost
    /// first). Throws when a component is a link or not a directory.
    /// With a `cache`, the walk starts from the deepest directory of the path it holds, and what
    /// it opens is kept there (see `DirectoryCache`).
    public static func directory(_ path: RelativePath?, in root: String, create: Bool = false,
                                 cache: DirectoryCache? = nil, made: (RelativePath) -> Void = { _ in }) throws -> Descriptor {
        // Held for the batch as it is (the common case): lent without splitting the path.
        if let held = cache?.descriptor(path?.rawValue ?? "") { return Descriptor(borrowing: held) }
        let parts = path?.components ?? []
        var start = 0
        // The walk's current directory; `owned` unless it is the held one it started from.
        var fd: Int32 = -1
        var owned = true
        if let cache {
            // The nearest directory above it that is held: the walk starts there.
            for k in stride(from: parts.count - 1, through: 0, by: -1) {
                if let held = cache.descriptor(parts[0..<k].joined(separator: "/")) {
                    fd = held
                    owned = false
                    start = k
                    break
                }
            }
        }
        if fd < 0 {
            start = 0
            fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw SyncError.io(path: root, operation: "open", errno: errno) }
        }
        var walked = parts[0..<start].joined(separator: "/")
        for part in parts[start...] {
            let name = String(part)
            walked += (walked.isEmpty ? "" : "/") + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, name, 0o755) != 0 {
                    if errno != EEXIST {
                        let e = errno
                        if owned { close(fd) }
                        throw SyncError.io(path: root + "/" + path!.rawValue, operation: "mkdir", errno: e)
                    }
                } else {
                    made(RelativePath(unchecked: walked))
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let e = errno
            if owned { close(fd) }
            guard next >= 0 else {
                // ELOOP / ENOTDIR: a link or a file where a directory should be.
                throw SyncError.io(path: root + "/" + path!.rawValue, operation: "open directory", errno: e)
            }
            fd = next
            owned = true
        }
        // Kept by the cache for the batch, and lent.
        guard let cache else { return Descriptor(fd) }
        cache.keep(path?.rawValue ?? "", fd)
        return Descriptor(borrowing: fd)
    }

    /// Opens the file `path` under `root` for reading, refusing links anywhere on the way.
    public static func openForReading(_ path: RelativePath, in root: String) throws -> Descriptor {
        let dir = try directory(path.parent, in: root)
        let fd = openat(dir.raw, path.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SyncError.io(path: root + "/" + path.rawValue, operation: "open", errno: errno) }
        return Descriptor(fd)
    }
}

/// Descriptors of a folder's directories kept open across the operations of one batch, so that a
/// path's directory is walked to once rather than once per check (a pull of many small files made
/// about twenty opens per file). Each is as `Beneath.directory` opened it: reached without
/// following a link, and naming that directory for as long as it is held, even if something on
/// its path is renamed or replaced meanwhile; so the owner keeps a cache for one batch only,
/// `forget`s a directory it removes or replaces, and `clear`s it when the batch ends.
/// Callers borrow the held descriptors (no copy, no close per use). One that is dropped
/// (forgotten, or the oldest at the limit) is not closed at once, since a caller may still be
/// using it: it is closed by `settle`, which the owner calls where no borrowed one is in use
/// (between two rows of a batch), or by `clear`.
public final class DirectoryCache {
    /// By path, told apart by bytes (two names Swift's strings compare equal are two directories).
    private var held: [RelativePath: Int32] = [:]
    /// Most recently kept last; the oldest is dropped when `limit` is reached.
    private var order: [RelativePath] = []
    /// Dropped, closed at the next `settle` or `clear`.
    private var retired: [Int32] = []
    public let limit: Int

    public init(limit: Int = 64) { self.limit = limit }
    deinit { clear() }

    /// The held descriptor of the directory `path` ("" is the root), to borrow, not to close.
    func descriptor(_ path: String) -> Int32? { held[RelativePath(unchecked: path)] }

    /// Holds `fd` (owned from here) as the directory `path`.
    func keep(_ path: String, _ fd: Int32) {
        let path = RelativePath(unchecked: path)
        if let old = held[path] { retired.append(old) } else { order.append(path) }
        held[path] = fd
        if order.count > limit, let oldest = order.first {
            order.removeFirst()
            if let old = held.removeValue(forKey: oldest) { retired.append(old) }
        }
    }

    /// Drops the directory `path` (nil: the root, which drops everything) and every one below it.
    public func forget(_ path: RelativePath?) {
        guard let path else { return retireAll() }
        for key in order where key.isWithin(path) {
            if let fd = held.removeValue(forKey: key) { retired.append(fd) }
        }
        order.removeAll { held[$0] == nil }
    }

    private func retireAll() {
        retired += held.values
        held = [:]
        order = []
    }

    /// Closes what was dropped; called where no descriptor lent before is in use any more.
    public func settle() {
        for fd in retired { close(fd) }
        retired = []
    }

    /// Closes every held descriptor (the batch is over: nothing lent is in use).
    public func clear() {
        retireAll()
        settle()
    }

    /// How many directories are held (tests).
    public var count: Int { held.count }
    /// How many dropped descriptors wait for `settle` (tests).
    public var waiting: Int { retired.count }
}
