import Foundation
import SyncCore
import SyncGit

/// A value computed on a thread of its own; `value()` waits for it.
///
/// Its own thread, not a dispatch queue's: work that waits on another thread (a scan's walkers
/// wait for the caller to take what they found) holds a thread of the global pool, and on Linux
/// that pool adds a thread for work queued behind blocked ones only when it sees an idle core.
/// On a busy machine a page of index rows queued behind two waiting walkers waited about a second.
final class Background<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    init(_ body: @escaping @Sendable () throws -> T) {
        Self.detach {
            self.result = Result { try body() }
            self.done.signal()
        }
    }

    /// Waits for the value (once; the semaphore orders the write before this read).
    func value() throws -> T {
        done.wait()
        return try result!.get()
    }

    /// Runs `body` on a new thread of its own; `group`, when given, is entered now and left when
    /// `body` returns.
    static func detach(group: DispatchGroup? = nil, _ body: @escaping @Sendable () -> Void) {
        group?.enter()
        let thread = Thread {
            body()
            group?.leave()
        }
        thread.start()
    }
}
