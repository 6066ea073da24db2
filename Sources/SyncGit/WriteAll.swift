import Foundation

/// All of `bytes` written to `fd`, a write interrupted by a signal tried again: the one loop of
/// this module's writes (a loose object, a blob copied out, a pack). Nil when done, else the errno
/// of the write that failed, for the caller to name what it was writing.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        done += n
    }
    return nil
}

/// fsyncs the directory `path`, so that a rename into it survives a power loss: the one directory
/// sync of this module (a loose object's, a pack's). Nil when done, else the errno that stopped it.
func syncDirectory(_ path: String) -> Int32? {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    return fsync(fd) == 0 ? nil : errno
}
