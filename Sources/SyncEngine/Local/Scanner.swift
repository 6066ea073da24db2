import Foundation
import SyncCore

/// What the file system shows for one path, from lstat alone.
public struct Observation: Sendable, Equatable {
    public var path: RelativePath
    public var kind: FileEntry.Kind
    public var size: Int64
    public var mtimeNs: Int64
    public var ctimeNs: Int64
    public var inode: UInt64
    public var executable: Bool

    /// Whether the stat data matches what the index recorded, so the content need not be read.
    func matchesStat(of e: FileEntry) -> Bool { matchesStat(of: IndexStat(e)) }

    /// Whether the stat data matches an index row's, so the content need not be read.
    func matchesStat(of e: IndexStat) -> Bool {
        !e.deleted && e.kind == kind && e.size == size && e.mtimeNs == mtimeNs && e.ctimeNs == ctimeNs
            && e.inode == inode && e.executable == executable
    }
}

/// A path the scan passed over, and why.
public struct ScanProblem: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(PathQuoting.quote(path)): \(reason)" }
}

/// Walks a folder with lstat only: never follows a symlink, never reads contents.
public struct Scanner: Sendable {
    public let root: String
    public let ignore: IgnoreMatcher
    /// Paths inside the folder that are never recorded (the state directory when it lies inside).
    let excluded: Set<String>

    static let temporaryPrefix = ".sync-tmp-"

    public init(root: String, ignore: IgnoreMatcher, excluded: Set<String> = []) {
        self.root = root
        self.ignore = ignore
        self.excluded = excluded
    }

    /// lstat of one path, or nil when it does not exist.
    func observe(_ path: RelativePath) throws -> Observation? {
        var st = stat()
        if lstat(root + "/" + path.rawValue, &st) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SyncError.io(path: root + "/" + path.rawValue, operation: "lstat", errno: errno)
        }
        return Self.observation(path, st)
    }

    static func observation(_ path: RelativePath, _ st: stat) -> Observation? {
        let kind: FileEntry.Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: return nil // sockets, fifos and devices are not synchronized
        }
        return Observation(path: path, kind: kind, size: kind == .directory ? 0 : Int64(st.st_size),
                           mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                           ctimeNs: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
                           inode: UInt64(st.st_ino), executable: kind == .file && (st.st_mode & 0o100) != 0)
    }

    /// Whether the scan skips `path` (ignored, excluded, or one of our temporary files).
    func skips(_ path: RelativePath, isDirectory: Bool) -> Bool {
        if path.name.hasPrefix(Self.temporaryPrefix) { return true }
        if excluded.contains(where: { path.isWithin(RelativePath(unchecked: $0)) }) { return true }
        return ignore.isIgnored(path, isDirectory: isDirectory)
    }

    /// The whole folder in path order, the order of the index's rows (bytes compared: "a", "a-b",
    /// "a/b"). A directory comes before what it holds, which comes where "name/" sorts among its
    /// siblings. The top-level directories are walked on `threads` threads (as git's preload-index
    /// spreads its lstat calls), each a bounded way ahead of the caller, in the order it takes
    /// them; one listing per level of a path is held, never the whole folder. A directory that
    /// cannot be listed is shown to `unread` before anything that sorts below it.
    /// `ahead`: how many entries the workers may hold for the caller; `peak` is told the most they
    /// held (tests).
    func walkInPathOrder(threads: Int = 2, ahead: Int = 16_384, peak: ((Int) -> Void)? = nil,
                         temporary: (RelativePath, Int) -> Void, unread: (RelativePath) -> Void,
                         _ visit: (Observation) throws -> Void) throws -> [ScanProblem] {
        var problems: [ScanProblem] = []
        let top = try listing(nil, problems: &problems, temporary: temporary, unread: unread)
        let dirs = top.order.filter { $0 % 2 == 1 }.map { top.found[$0 / 2].path }
        let subtrees = Subtrees(self, dirs, threads: threads, bound: ahead)
        defer { subtrees.stop() }
        var taken = 0
        for item in top.order {
            let o = top.found[item / 2]
            if item % 2 == 0 { try visit(o); continue }
            if subtrees.workers == 0 {
                try walk(below: o.path, problems: &problems, temporary: temporary, unread: unread, visit)
            } else {
                try subtrees.take(taken, temporary: temporary, unread: unread, visit)
            }
            taken += 1
        }
        subtrees.stop()
        peak?(subtrees.peak)
        return problems + subtrees.problems
    }

    /// One directory's entries and the order to take them in: `2 * i` shows entry i, `2 * i + 1`
    /// enters it (a directory), sorted by "name" and "name/".
    struct Level { var found: [Observation] = []; var order: [Int] = []; var next = 0 }

    /// One directory (the root when nil) listed and sorted; a directory that cannot be listed is
    /// shown to `unread` and is empty (the root throws).
    func listing(_ dir: RelativePath?, problems: inout [ScanProblem], temporary: (RelativePath, Int) -> Void,
                 unread: (RelativePath) -> Void) throws -> Level {
        var level = Level(), names: [String] = []
        let listed = list(dir, problems: &problems, temporary: temporary) { o, name in
            level.found.append(o)
            names.append(name)
        }
        if let failed = listed {
            guard let dir else { throw SyncError.io(path: root, operation: "opendir", errno: failed) }
            unread(dir)
        }
        // Sorted on the first eight bytes of each key as one integer (names hold no NUL, so
        // zeros after a short key sort it first, as bytes do), the whole keys compared on a tie.
        var keys: [(prefix: UInt64, item: Int)] = []
        keys.reserveCapacity(names.count * 2)
        for (i, o) in level.found.enumerated() {
            keys.append((Self.sortPrefix(names[i], slash: false), 2 * i))
            if o.kind == .directory { keys.append((Self.sortPrefix(names[i], slash: true), 2 * i + 1)) }
        }
        keys.sort { a, b in
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            return RelativePath.bytesPrecede(names[a.item / 2], a.item % 2 == 1, names[b.item / 2], b.item % 2 == 1)
        }
        level.order = keys.map(\.item)
        return level
    }

    /// Everything below `dir`, in path order, on this thread.
    func walk(below dir: RelativePath, problems: inout [ScanProblem], temporary: (RelativePath, Int) -> Void,
              unread: (RelativePath) -> Void, _ visit: (Observation) throws -> Void) throws {
        var levels = [try listing(dir, problems: &problems, temporary: temporary, unread: unread)]
        while let last = levels.indices.last {
            guard levels[last].next < levels[last].order.count else { levels.removeLast(); continue }
            let item = levels[last].order[levels[last].next]
            levels[last].next += 1
            let o = levels[last].found[item / 2]
            if item % 2 == 1 {
                levels.append(try listing(o.path, problems: &problems, temporary: temporary, unread: unread))
            } else {
                try visit(o)
            }
        }
    }

    /// The first eight bytes of `name` (and a '/' after it when `slash`), big-endian, zeros after.
    static func sortPrefix(_ name: String, slash: Bool) -> UInt64 {
        var v: UInt64 = 0, n = 0
        for byte in name.utf8 {
            if n == 8 { return v }
            v |= UInt64(byte) << (56 - 8 * n)
            n += 1
        }
        if slash && n < 8 { v |= UInt64(UInt8(ascii: "/")) << (56 - 8 * n) }
        return v
    }

    /// Lists one directory (the folder's root when nil): each entry the scan keeps is given to
    /// `found` with its name, in directory order. Returns the error number when the directory
    /// could not be opened (a problem noted), nil when it was listed.
    private func list(_ dir: RelativePath?, problems: inout [ScanProblem], temporary: (RelativePath, Int) -> Void,
                      _ found: (Observation, String) -> Void) -> Int32? {
        let dirPath = dir.map { root + "/" + $0.rawValue } ?? root
        guard let d = opendir(dirPath) else {
            let e = errno
            problems.append(ScanProblem(path: dir?.rawValue ?? ".", reason: String(cString: strerror(e))))
            return e
        }
        defer { closedir(d) }
        let dfd = dirfd(d)
        while let ent = readdir(d) {
            // The name straight from the entry's bytes (no copy unless it is not valid UTF-8).
            var invalid: [UInt8]?
            let decoded = withUnsafeBytes(of: ent.pointee.d_name) { buf -> String? in
                let start = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let bytes = UnsafeBufferPointer(start: start, count: strnlen(buf.baseAddress!.assumingMemoryBound(to: CChar.self), buf.count))
                if bytes.first == 46 && (bytes.count == 1 || (bytes.count == 2 && bytes[1] == 46)) { return nil }
                if let s = String.validUTF8(bytes) { return s }
                invalid = Array(bytes)
                return nil
            }
            guard let name = decoded else {
                if let raw = invalid {
                    problems.append(ScanProblem(path: (dir.map { $0.rawValue + "/" } ?? "") + String(decoding: raw, as: UTF8.self),
                                                reason: "name is not valid UTF-8; skipped"))
                }
                continue
            }
            guard let path = RelativePath.joining(dir, listed: name) else {
                problems.append(ScanProblem(path: name, reason: "path longer than 4096 bytes; skipped"))
                continue
            }
            var st = stat()
            guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno != ENOENT { problems.append(ScanProblem(path: path.rawValue, reason: String(cString: strerror(errno)))) }
                continue
            }
            if name.hasPrefix(Self.temporaryPrefix) { temporary(path, st.st_mtim.tv_sec); continue }
            guard let o = Self.observation(path, st) else { continue }
            if (!excluded.isEmpty && excluded.contains(path.rawValue))
                || ignore.decide(path, isDirectory: o.kind == .directory) { continue }
            found(o, name)
        }
        return nil
    }

    /// Everything below `start` (the whole folder when nil), depth first in directory order;
    /// `start` itself is not included. `entering` sees each directory (`start` too) before it is
    /// listed, and may say not to list it (the watcher watches it there, so that nothing made in it
    /// after the listing goes unseen).
    /// Our temporary files it passes are shown to `temporary` with their modification time (s).
    public func walk(from start: RelativePath? = nil, entering: (RelativePath?) throws -> Bool = { _ in true },
                     temporary: (RelativePath, Int) -> Void = { _, _ in },
                     _ visit: (Observation) throws -> Void) throws -> [ScanProblem] {
        var problems: [ScanProblem] = []
        var stack: [RelativePath?] = [start]
        while let dir = stack.popLast() {
            guard try entering(dir) else { continue }
            var found: [Observation] = []
            _ = list(dir, problems: &problems, temporary: temporary) { o, _ in found.append(o) }
            // Directory order, not sorted: callers that need an order sort what they keep.
            for o in found {
                try visit(o)
                if o.kind == .directory { stack.append(o.path) }
            }
        }
        return problems
    }
}

/// The subtrees of a folder's top-level directories, walked in path order on threads of their own
/// (not the dispatch pool's: they wait for the caller, see `Background`) that
/// take them in the order the caller will, each into a buffer the caller drains. The worker of the
/// directory the caller is taking waits while its buffer holds `bound` events; a worker ahead of
/// the caller waits while all buffers together hold `bound` (so that a folder of many small
/// top-level directories is not read whole ahead of a slow caller).
private final class Subtrees: @unchecked Sendable {
    enum Event { case seen(Observation), temporary(RelativePath, Int), unread(RelativePath) }
    struct Stopped: Error {}
    let workers: Int
    private let bound: Int
    private let dirs: [RelativePath]
    private let condition = NSCondition()
    private let group = DispatchGroup()
    // Guarded by `condition`:
    private var next = 0
    private var buffers: [[Event]]
    private var finished: [Bool]
    private var stopped = false
    /// Events in all buffers, and the directory the caller is taking.
    private var buffered = 0, current = 0
    /// The most events the buffers held at once (tests check the bound).
    private(set) var peak = 0
    private(set) var problems: [ScanProblem] = []

    init(_ scanner: Scanner, _ dirs: [RelativePath], threads: Int, bound: Int) {
        self.dirs = dirs
        self.bound = max(1, bound)
        workers = threads > 1 ? min(threads, dirs.count) : 0
        buffers = Array(repeating: [], count: dirs.count)
        finished = Array(repeating: false, count: dirs.count)
        for _ in 0..<workers {
            Background<Void>.detach(group: group) { self.work(scanner) }
        }
    }

    private func work(_ scanner: Scanner) {
        while true {
            condition.lock()
            guard !stopped, next < dirs.count else { condition.unlock(); return }
            let i = next
            next += 1
            condition.unlock()
            var chunk: [Event] = [], problems: [ScanProblem] = []
            /// Hands what was found on (waiting while the buffers are full, as the type says), and
            /// at the end (`found` set) the problems met too.
            func hand(_ found: [ScanProblem]?) throws {
                condition.lock()
                defer { condition.unlock() }
                while !stopped && (i == current ? buffers[i].count : buffered) >= bound { condition.wait() }
                if stopped { throw Stopped() }
                buffered += chunk.count
                // Handed over whole when the caller took all before (no copy of every event).
                if buffers[i].isEmpty { swap(&buffers[i], &chunk) } else { buffers[i] += chunk }
                peak = max(peak, buffered)
                if let found { finished[i] = true; self.problems += found }
                condition.broadcast()
                chunk.removeAll(keepingCapacity: true)
            }
            do {
                try scanner.walk(below: dirs[i], problems: &problems, temporary: { chunk.append(.temporary($0, $1)) },
                                 unread: { chunk.append(.unread($0)) }) { o in
                    chunk.append(.seen(o))
                    if chunk.count >= min(512, bound) { try hand(nil) }
                }
                try hand(problems)
            } catch {
                return // stopped
            }
        }
    }

    /// Everything below the `i`th directory, in path order, as its worker finds it.
    func take(_ i: Int, temporary: (RelativePath, Int) -> Void, unread: (RelativePath) -> Void,
              _ visit: (Observation) throws -> Void) throws {
        condition.lock()
        current = i
        condition.broadcast()
        condition.unlock()
        while true {
            condition.lock()
            while buffers[i].isEmpty && !finished[i] { condition.wait() }
            let events = buffers[i], done = finished[i]
            buffers[i] = []
            buffered -= events.count
            condition.broadcast()
            condition.unlock()
            for e in events {
                switch e {
                case .seen(let o): try visit(o)
                case .temporary(let p, let t): temporary(p, t)
                case .unread(let p): unread(p)
                }
            }
            if done { return }
        }
    }

    /// Stops the workers (those ahead wake and leave) and waits for them.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        group.wait()
    }
}

