import Foundation
import SyncCore

/// When to commit the changes collected so far: after a quiet period with no new change, and no
/// later than a maximum delay after the first one.
struct Debounce: Sendable, Equatable {
    public let quiet: Double
    public let maxDelay: Double

    public init(quiet: Double, maxDelay: Double) { self.quiet = quiet; self.maxDelay = maxDelay }

    /// The moment to commit, given when the first and the last pending change came.
    func deadline(first: Double, last: Double) -> Double { min(last + quiet, first + max(maxDelay, quiet)) }
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
        var rescan = false
        var first = 0.0, last = 0.0
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var open = true
        while open || rescan || !pending.isEmpty {
            let now = Self.now()
            var timeout: Int32 = -1
            if rescan || !pending.isEmpty {
                timeout = Int32(max(0, (debounce.deadline(first: first, last: last) - now) * 1000).rounded(.up))
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
                        if !rescan && pending.isEmpty { first = t }
                        last = t
                        switch event {
                        case .rescan: rescan = true
                        case .change(let p): pending.insert(p)
                        }
                    }
                    continue
                }
            }
            if open && Self.now() < debounce.deadline(first: first, last: last) { continue }
            let paths: [RelativePath]? = rescan ? nil : Array(pending)
            rescan = false
            pending.removeAll()
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
