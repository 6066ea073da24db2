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
        if excluded.contains(where: { path.rawValue == $0 || path.rawValue.hasPrefix($0 + "/") }) { return true }
        return ignore.isIgnored(path, isDirectory: isDirectory)
    }

    /// The whole folder as `walk` gives it (in no set order), its top-level directories shared
    /// out among `threads` threads as each becomes free (as git's preload-index): the stat calls
    /// of a rescan of 100,000 files are most of its time, and they run on every core.
    func walkAll(threads: Int = 2, temporary: (RelativePath, Int) -> Void,
                 _ visit: (Observation) -> Void) -> [ScanProblem] {
        var top: [RelativePath] = []
        var problems = (try? walk(from: nil, entering: { $0 == nil }, temporary: temporary) { o in
            visit(o)
            if o.kind == .directory { top.append(o.path) }
        }) ?? []
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            let dirs: [RelativePath]
            var next = 0
            var seen: [[Observation]] = []
            var temporaries: [(RelativePath, Int)] = []
            var problems: [ScanProblem] = []
            init(_ dirs: [RelativePath]) { self.dirs = dirs }
            func take() -> RelativePath? {
                lock.lock(); defer { lock.unlock() }
                guard next < dirs.count else { return nil }
                defer { next += 1 }
                return dirs[next]
            }
        }
        let shared = Shared(top)
        let scanner = self
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, top.count))) { _ in
            var seen: [Observation] = [], temporaries: [(RelativePath, Int)] = [], problems: [ScanProblem] = []
            while let dir = shared.take() {
                // Its own listing was seen at the top; what is below it is walked here.
                problems += (try? scanner.walk(from: dir, temporary: { temporaries.append(($0, $1)) }) { seen.append($0) }) ?? []
            }
            shared.lock.lock()
            shared.seen.append(seen); shared.temporaries += temporaries; shared.problems += problems
            shared.lock.unlock()
        }
        for t in shared.temporaries { temporary(t.0, t.1) }
        for part in shared.seen { for o in part { visit(o) } }
        problems += shared.problems
        return problems
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
            let dirPath = dir.map { root + "/" + $0.rawValue } ?? root
            guard let d = opendir(dirPath) else {
                problems.append(ScanProblem(path: dir?.rawValue ?? ".", reason: String(cString: strerror(errno))))
                continue
            }
            defer { closedir(d) }
            let dfd = dirfd(d)
            var found: [Observation] = []
            while let ent = readdir(d) {
                let raw = withUnsafeBytes(of: ent.pointee.d_name) { buf -> [UInt8] in
                    Array(buf.prefix(while: { $0 != 0 }))
                }
                if raw == [46] || raw == [46, 46] { continue }
                guard let name = String(validating: raw, as: UTF8.self) else {
                    problems.append(ScanProblem(path: (dir.map { $0.rawValue + "/" } ?? "") + String(decoding: raw, as: UTF8.self),
                                                reason: "name is not valid UTF-8; skipped"))
                    continue
                }
                guard let path = try? (dir.map { try $0.appending(name) } ?? RelativePath(name)) else {
                    problems.append(ScanProblem(path: name, reason: "name cannot be synchronized; skipped"))
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
                found.append(o)
            }
            // Directory order, not sorted: callers that need an order sort what they keep.
            for o in found {
                try visit(o)
                if o.kind == .directory { stack.append(o.path) }
            }
        }
        return problems
    }
}
