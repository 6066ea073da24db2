import Foundation
import SyncCore

/// How the supervisor starts, signals and collects its children: the toolkit's programs as
/// processes (`children`), or anything a test puts in their place.
public struct ChildProcesses: Sendable {
    /// Starts what a unit runs; returns its processes (a pipeline's in order: watch, commit, notify).
    public var start: @Sendable (Supervisor.Kind) throws -> [pid_t]
    public var signal: @Sendable (pid_t, Int32) -> Void
    /// A child that ended, with its wait status; nil when none has.
    var reaped: @Sendable () -> (pid_t, Int32)?
    /// Waits for a child killed at the end.
    public var wait: @Sendable (pid_t) -> Void

    public init(start: @escaping @Sendable (Supervisor.Kind) throws -> [pid_t], signal: @escaping @Sendable (pid_t, Int32) -> Void,
                reaped: @escaping @Sendable () -> (pid_t, Int32)?, wait: @escaping @Sendable (pid_t) -> Void) {
        self.start = start; self.signal = signal; self.reaped = reaped; self.wait = wait
    }

    /// The toolkit's programs beside this one: per folder sync-watch | sync-commit | sync-notify,
    /// sync-pull --follow per peer (all its folders), sync-prune on its schedule.
    public static func children(retryMax: String) -> ChildProcesses {
        ChildProcesses(start: { try startChildren($0, retryMax: retryMax) },
                       signal: { kill($0, $1) },
                       reaped: {
                           var status: Int32 = 0
                           let pid = waitpid(-1, &status, WNOHANG)
                           return pid > 0 ? (pid, status) : nil
                       },
                       wait: { waitpid($0, nil, 0) })
    }

    static func startChildren(_ kind: Supervisor.Kind, retryMax: String) throws -> [pid_t] {
        switch kind {
        case .pipeline(let id):
            var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
            guard pipe(&a) == 0 else { throw SyncError.io(path: "pipe", operation: "create", errno: errno) }
            guard pipe(&b) == 0 else { close(a[0]); close(a[1]); throw SyncError.io(path: "pipe", operation: "create", errno: errno) }
            // Only the dup2'd ends reach each child.
            for fd in a + b { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            defer { for fd in a + b { close(fd) } }
            var pids: [pid_t] = []
            do {
                pids.append(try spawn(siblingExecutable("sync-watch"), ["sync-watch", id.rawValue], stdoutFD: a[1]))
                pids.append(try spawn(siblingExecutable("sync-commit"), ["sync-commit", id.rawValue], stdin: a[0], stdoutFD: b[1]))
                pids.append(try spawn(siblingExecutable("sync-notify"), ["sync-notify", "--no-dial", id.rawValue], stdin: b[0], stdout: "/dev/null"))
            } catch {
                for p in pids { kill(p, SIGTERM) }
                throw error
            }
            return pids
        case .follow(_, let remotes):
            return [try spawn(siblingExecutable("sync-pull"), ["sync-pull", "--follow", "--retry-max", retryMax] + remotes, stdout: "/dev/null")]
        case .prune(let id, _):
            // Its summary line goes to the log.
            return [try spawn(siblingExecutable("sync-prune"), ["sync-prune", id.rawValue], stdoutFD: 2)]
        }
    }
}
