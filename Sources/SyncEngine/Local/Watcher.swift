import Foundation
import SyncCore

/// What the watcher reports: a path that changed, a file being written (its last event was a
/// write, not yet a close), or a request for a full rescan.
public enum WatchEvent: Sendable, Equatable {
    case change(RelativePath)
    case writing(RelativePath)
    case rescan

    /// The line `sync-watch` prints and `sync-commit` reads.
    public var line: String {
        switch self {
        case .rescan: return "rescan"
        case .change(let p): return "change " + PathQuoting.quote(p.rawValue)
        case .writing(let p): return "writing " + PathQuoting.quote(p.rawValue)
        }
    }

    /// The path the event names (nil for a rescan).
    var path: RelativePath? {
        switch self {
        case .change(let p), .writing(let p): return p
        case .rescan: return nil
        }
    }

    /// Parses one line; nil for anything else.
    public init?(line: Substring) {
        if line == "rescan" { self = .rescan; return }
        for (word, make) in [("change ", WatchEvent.change), ("writing ", WatchEvent.writing)] where line.hasPrefix(word) {
            guard let s = PathQuoting.unquote(line.dropFirst(word.count)), let p = try? RelativePath(s) else { return nil }
            self = make(p)
            return
        }
        return nil
    }
}

/// A recursive inotify watcher over a folder: new directories are watched as they appear, moved
/// directories are re-watched, and an overflowed queue or a reached watch limit asks for a rescan.
public final class Watcher {
    private let fd: Int32
    private let scanner: Scanner
    private var paths: [Int32: RelativePath?] = [:]
    private var watches: [RelativePath?: Int32] = [:]
    private var limitReported = false
    /// Called once per problem worth a line on standard error.
    public var warn: (String) -> Void = { _ in }

    static let mask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM
        | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF) | UInt32(IN_ONLYDIR) | UInt32(IN_DONT_FOLLOW)

    public init(scanner: Scanner) throws {
        self.scanner = scanner
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { throw SyncError.io(path: scanner.root, operation: "inotify_init", errno: errno) }
    }

    deinit { close(fd) }

    /// Watches the folder, reports `.rescan` once everything is watched, then reports changes until
    /// the folder's root goes away (an error) or `emit` returns false.
    public func run(_ emit: ([WatchEvent]) -> Bool) throws {
        var full = false
        _ = try watchTree(nil, overflow: &full, collect: false) // a rescan follows
        guard emit([.rescan]) else { return }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = try POSIX.read(fd, into: &buffer, path: scanner.root + " (inotify)")
            var events: [WatchEvent] = []
            var seen: [RelativePath: Int] = [:] // path → its event's index: one event per path and read
            var rescan = false
            var offset = 0
            while offset + 16 <= n {
                let (wd, mask, len) = buffer.withUnsafeBytes { b in
                    (b.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                     b.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                     Int(b.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let nameBytes = buffer[(offset + 16)..<min(offset + 16 + len, n)].prefix { $0 != 0 }
                offset += 16 + len
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { rescan = true; continue }
                guard let dirEntry = paths[wd] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 { forget(wd); continue }
                if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                    if dirEntry == nil { throw SyncError.noSuchPath(scanner.root) }
                    continue
                }
                guard !nameBytes.isEmpty else { continue }
                guard let name = String(validating: Array(nameBytes), as: UTF8.self),
                      let path = try? (dirEntry.map { try $0.appending(name) } ?? RelativePath(name)) else {
                    warn("\(scanner.root): a name that is not valid UTF-8 changed; skipped")
                    continue
                }
                let isDir = mask & UInt32(IN_ISDIR) != 0
                if scanner.skips(path, isDirectory: isDir) { continue }
                if isDir && mask & UInt32(IN_MOVED_FROM | IN_DELETE) != 0 { unwatchTree(path) }
                // A write leaves the file open (a close or a move ends that); a change of mode or
                // times while it is open leaves it open.
                let wrote = mask & UInt32(IN_MODIFY) != 0 && !isDir
                if let i = seen[path] {
                    let open = wrote || (mask & UInt32(IN_ATTRIB) != 0 && events[i] == .writing(path))
                    events[i] = open ? .writing(path) : .change(path)
                } else {
                    seen[path] = events.count
                    events.append(wrote ? .writing(path) : .change(path))
                }
                if isDir && mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                    // What was made in it before its watch was in place is reported from the listing.
                    for p in try watchTree(path, overflow: &rescan) where seen[p] == nil {
                        seen[p] = events.count
                        events.append(.change(p))
                    }
                }
            }
            if rescan { events = [.rescan] }
            if !events.isEmpty && !emit(events) { return }
        }
    }

    /// Watches `start` and every directory below it, each before it is listed: an entry made in a
    /// directory after its listing raises an event, one made before is in the listing. Returns what
    /// the listings held (for a directory that just appeared, each is a change to report).
    private func watchTree(_ start: RelativePath?, overflow: inout Bool, collect: Bool = true) throws -> [RelativePath] {
        var found: [RelativePath] = []
        var full = false
        _ = try scanner.walk(from: start, entering: { d in
            if full { return false }
            let abs = d.map { scanner.root + "/" + $0.rawValue } ?? scanner.root
            let wd = inotify_add_watch(fd, abs, Self.mask)
            if wd < 0 {
                let e = errno
                if e == ENOSPC {
                    full = true
                    if !limitReported {
                        warn("\(abs): inotify watch limit reached; raise fs.inotify.max_user_watches (changes below it are found by rescans)")
                        limitReported = true
                    }
                    return false
                }
                if d == nil { throw SyncError.io(path: abs, operation: "watch", errno: e) }
                return false // gone or replaced meanwhile: its parent's event covers it
            }
            paths[wd] = d
            watches[d] = wd
            return true
        }) { o in if collect { found.append(o.path) } }
        if full { overflow = true }
        return found
    }

    private func unwatchTree(_ path: RelativePath) {
        for (p, wd) in watches {
            guard let p, p.isWithin(path) else { continue }
            inotify_rm_watch(fd, wd)
            forget(wd)
        }
    }

    private func forget(_ wd: Int32) {
        if let p = paths.removeValue(forKey: wd), watches[p] == wd { watches.removeValue(forKey: p) }
    }
}
