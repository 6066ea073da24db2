import Foundation
import SyncCore

/// The absolute path of another toolkit executable installed beside this one.
public func siblingExecutable(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (exe as NSString).deletingLastPathComponent + "/" + name
}

/// Starts a program with standard input from /dev/null (unless `stdin` is given) and the given
/// standard output, in its own process group.
public func spawn(_ path: String, _ argv: [String], stdin: Int32? = nil, stdout: String? = nil, stdoutFD: Int32? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let stdoutFD { posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1) } else if let stdout {
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY, 0)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attributes, 0)
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var pid: pid_t = 0
    var cargs = argv.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    let rc = posix_spawn(&pid, path, &actions, &attributes, &cargs, environ)
    guard rc == 0 else { throw SyncError.io(path: path, operation: "run", errno: rc) }
    return pid
}
