import Foundation

/// File operations inside a folder that never follow a symbolic link on the way: each directory
/// of a path is opened with O_NOFOLLOW from its parent, so a link planted in the folder cannot send
/// a peer's write (or a read for a peer) anywhere else.
public enum Beneath {
    /// A descriptor of the directory `path` (nil: the root itself) under `root`; missing
    /// directories are made when `create` is true (each one made is passed to `made`, outermost
    /// first). Throws when a component is a link or not a directory.
    public static func directory(_ path: RelativePath?, in root: String, create: Bool = false,
                                 made: (RelativePath) -> Void = { _ in }) throws -> Descriptor {
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SyncError.io(path: root, operation: "open", errno: errno) }
        guard let path else { return Descriptor(fd) }
        var walked = ""
        for part in path.rawValue.split(separator: "/") {
            let name = String(part)
            walked += (walked.isEmpty ? "" : "/") + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, name, 0o755) != 0 {
                    if errno != EEXIST { let e = errno; close(fd); throw SyncError.io(path: root + "/" + path.rawValue, operation: "mkdir", errno: e) }
                } else {
                    made(RelativePath(unchecked: walked))
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let e = errno
            close(fd)
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
