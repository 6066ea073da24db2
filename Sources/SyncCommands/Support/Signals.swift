import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

/// SIGTERM and SIGINT ask a long-running command to stop: they count in a flag (without
/// SA_RESTART, so a wait in poll(2) returns at once) that its loops check between steps; a
/// second one asks to stop at once (`again`).
enum StopSignal {
    nonisolated(unsafe) static var raised: sig_atomic_t = 0

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in StopSignal.raised = StopSignal.raised < 2 ? StopSignal.raised + 1 : 2 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
        // A parent may have started this process with signals blocked (Foundation's Process does).
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGCHLD)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    static var requested: Bool { raised != 0 }
    static var again: Bool { raised >= 2 }

    /// Sleeps up to `seconds`, less when a stop is asked for.
    static func sleep(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while !requested, end.timeIntervalSinceNow > 0 {
            _ = poll(nil, 0, Int32(min(end.timeIntervalSinceNow, 0.5) * 1000) + 1)
        }
    }
}

/// In a child of sync-daemon (SYNC_DAEMON_PID set): raises SIGTERM in this process when the
/// daemon is gone, so that nothing it started outlives it (a killed daemon restarted would
/// otherwise find its old watchers and links still running).
func stopWithDaemon() {
    guard let text = ProcessInfo.processInfo.environment["SYNC_DAEMON_PID"], let daemon = pid_t(text) else { return }
    let thread = Thread {
        while getppid() == daemon { usleep(300_000) }
        kill(getpid(), SIGTERM)
    }
    thread.start()
}
