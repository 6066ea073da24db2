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
        let parts = path?.rawValue.split(separator: "/") ?? []
        var start = 0
        var fd: Int32 = -1
        if let cache {
            for k in stride(from: parts.count, through: 0, by: -1) {
                if let held = cache.descriptor(parts[0..<k].joined(separator: "/")) {
                    fd = fcntl(held, F_DUPFD_CLOEXEC, 0)
                    start = k
                    break
                }
            }
            if start == parts.count && fd >= 0 { return Descriptor(fd) }
        }
        if fd < 0 {
            start = 0
            fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw SyncError.io(path: root, operation: "open", errno: errno) }
        }
        defer { if let cache, fd >= 0 { cache.keep(path?.rawValue ?? "", duplicating: fd) } }
        guard let path else { return Descriptor(fd) }
        var walked = parts[0..<start].joined(separator: "/")
        for part in parts[start...] {
            let name = String(part)
            walked += (walked.isEmpty ? "" : "/") + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, name, 0o755) != 0 {
                    if errno != EEXIST { let e = errno; close(fd); fd = -1; throw SyncError.io(path: root + "/" + path.rawValue, operation: "mkdir", errno: e) }
                } else {
                    made(RelativePath(unchecked: walked))
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let e = errno
            close(fd)
            fd = -1
            guard next >= 0 else {
                // ELOOP / ENOTDIR: a link or a file where a directory should be.
                throw SyncError.io(path: root + "/" + path.rawValue, operation: "open directory", errno: e)
            }
            fd = next
        }
        return Descriptor(fd)
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
/// Callers get duplicates of the held descriptors: nothing they hold is closed under them.
public final class DirectoryCache {
    private var held: [String: Int32] = [:]
    /// Most recently kept last; the oldest is closed when `limit` is reached.
    private var order: [String] = []
    public let limit: Int

    public init(limit: Int = 64) { self.limit = limit }
    deinit { clear() }

    /// The held descriptor of the directory `path` ("" is the root), to duplicate, not to close.
    func descriptor(_ path: String) -> Int32? { held[path] }

    /// Keeps a duplicate of `fd` as the directory `path`.
    func keep(_ path: String, duplicating fd: Int32) {
        guard held[path] == nil else { return }
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { return }
        if order.count >= limit, let oldest = order.first {
            order.removeFirst()
            if let old = held.removeValue(forKey: oldest) { close(old) }
        }
        held[path] = copy
        order.append(path)
    }

    /// Drops the directory `path` (nil: the root, which drops everything) and every one below it.
    public func forget(_ path: RelativePath?) {
        guard let path else { return clear() }
        let prefix = path.rawValue + "/"
        for key in order where key == path.rawValue || key.hasPrefix(prefix) {
            if let fd = held.removeValue(forKey: key) { close(fd) }
        }
        order.removeAll { held[$0] == nil }
    }

    /// Closes every held descriptor.
    public func clear() {
        for fd in held.values { close(fd) }
        held = [:]
        order = []
    }

    /// How many directories are held (tests).
    public var count: Int { held.count }
}
