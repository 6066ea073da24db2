import Foundation
import SyncCore
import SyncGit

/// A value computed on another thread; `value()` waits for it.
final class Background<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    init(_ body: @escaping @Sendable () throws -> T) {
        DispatchQueue.global().async {
            self.result = Result { try body() }
            self.done.signal()
        }
    }

    /// Waits for the value (once; the semaphore orders the write before this read).
    func value() throws -> T {
        done.wait()
        return try result!.get()
    }
}
