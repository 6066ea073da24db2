import Foundation
import SyncCore

/// When to commit the changes collected so far. A lone change (one that comes after a quiet period
/// and whose files are closed) is committed as soon as the events that belong with it are in: an
/// editor's write, close and rename come within a few milliseconds. Anything else is a burst:
/// committed after a quiet period with no new change, and no later than a maximum delay after
/// the first one.
struct Debounce: Sendable, Equatable {
    public let quiet: Double
    public let maxDelay: Double
    /// How long a lone change waits for the events that belong with it.
    static let settle = 0.015

    public init(quiet: Double, maxDelay: Double) { self.quiet = quiet; self.maxDelay = maxDelay }

    /// The moment to commit a burst, given when its first and its last change came.
    func deadline(first: Double, last: Double) -> Double { min(last + quiet, first + max(maxDelay, quiet)) }

    /// The moment to commit, given when the first and the last pending change came and whether they
    /// make a lone change so far (they began after `quiet` of silence and no file is still open).
    /// A lone change that goes on for longer than the settling time is a burst.
    func deadline(first: Double, last: Double, lone: Bool) -> Double {
        let settle = min(Self.settle, quiet)
        if lone && last - first <= settle { return first + settle }
        return deadline(first: first, last: last)
    }
}

/// `sync-commit`'s follow mode: reads watch lines from a file descriptor, debounces, commits.
public struct CommitLoop {
    let folderID: FolderID
    public let state: StateDirectory
    public var onCommit: (CommitResult) -> Void = { _ in }
    public var warn: (String) -> Void = { _ in }

    public init(folder: FolderID, state: StateDirectory) {
        folderID = folder
        self.state = state
    }

    /// Runs until the input ends; pending changes are committed before it returns.
    public func run(input fd: Int32) throws {
        var debounce = try debounceSettings()
        var pending = Set<RelativePath>()
        // Pending files whose last event was a write: maybe still open.
        var writing = Set<RelativePath>()
        var rescan = false
        var first = 0.0, last = 0.0
        // When the event before the pending ones came, and whether they began after a quiet period.
        var previous = -Double.infinity
        var lone = false
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var open = true
        while open || rescan || !pending.isEmpty {
            let now = Self.now()
            var timeout: Int32 = -1
            if rescan || !pending.isEmpty {
                let due = debounce.deadline(first: first, last: last, lone: lone && writing.isEmpty)
                timeout = Int32(max(0, (due - now) * 1000).rounded(.up))
            }
            var ready = false
            if open {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&pfd, 1, timeout)
                if r < 0 && errno != EINTR { throw SyncError.io(path: "standard input", operation: "poll", errno: errno) }
                ready = r > 0
            }
            if ready {
                let n = (try? POSIX.read(fd, into: &chunk, path: "standard input")) ?? 0
                if n == 0 {
                    open = false
                    last = 0; first = 0 // commit what is pending at once
                } else {
                    buffer += chunk[0..<n]
                    let t = Self.now()
                    while let nl = buffer.firstIndex(of: 0x0a) {
                        let line = String(decoding: buffer[..<nl], as: UTF8.self)
                        buffer.removeSubrange(...nl)
                        guard let event = WatchEvent(line: Substring(line)) else {
                            warn("ignoring a line that is neither 'rescan' nor 'change PATH': \(PathQuoting.quote(line))")
                            continue
                        }
                        if !rescan && pending.isEmpty {
                            first = t
                            lone = t - previous >= debounce.quiet
                        }
                        last = t
                        previous = t
                        switch event {
                        case .rescan: rescan = true
                        case .change(let p): pending.insert(p); writing.remove(p)
                        case .writing(let p): pending.insert(p); writing.insert(p)
                        }
                    }
                    continue
                }
            }
            if open && Self.now() < debounce.deadline(first: first, last: last, lone: lone && writing.isEmpty) { continue }
            let paths: [RelativePath]? = rescan ? nil : Array(pending)
            rescan = false
            pending.removeAll()
            writing.removeAll()
            lone = false
            let folder = try state.folder(folderID.rawValue)
            debounce = Debounce(quiet: folder.config.quietPeriod, maxDelay: folder.config.maxDelay)
            if folder.config.paused { continue }
            let context = try FolderContext(folder, state: state)
            if let result = try Committer(context).commit(paths: paths) {
                result.problems.forEach { warn($0.description) }
                if let m = result.heldMessage { warn(m) }
                if result.commit != nil || !result.changes.isEmpty { onCommit(result) }
                if !result.retry.isEmpty {
                    pending.formUnion(result.retry)
                    first = Self.now(); last = first
                }
            }
        }
    }

    private func debounceSettings() throws -> Debounce {
        let f = try state.folder(folderID.rawValue)
        return Debounce(quiet: f.config.quietPeriod, maxDelay: f.config.maxDelay)
    }

    static func now() -> Double { Date().timeIntervalSince1970 }
}
