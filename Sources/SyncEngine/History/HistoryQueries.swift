import Foundation
import SyncCore
import SyncGit

/// One commit as `sync log` shows it.
public struct LogEntry: Sendable, Codable {
    public let commit: String
    public let sequence: Int64?
    public let time: Date
    public let node: String
    public let changes: [Change]
    /// How many changes the commit has in all (its message lists at most a thousand).
    public let changeCount: Int
    /// How many earlier changes a prune folded into this one (`Sync-Squashed`).
    public var squashed = 0
    /// The peer whose changes a pull recorded (`Sync-Pulled-From`; nil: made on this node), and the
    /// name it goes by here, when known (`named`).
    public var pulledFrom: String?
    public var pulledFromName: String?
    /// The nodes where the pulled changes were made (`Sync-Made-On`: those whose version counters
    /// went up), and their names here, when known.
    public var madeOn: [String] = []
    public var madeOnNames: [String?] = []

    /// `<time>\t<sequence>\t<commit>\t<summary>`: the plumbing line; a pulled change ends with
    /// `(made on NAME)` when the peer it came from made it, else `(made on NAME, from PEER)`.
    public var line: String {
        let shown = changes.prefix(3).map(\.line).joined(separator: ", ")
        let more = changeCount > 3 ? " (+\(changeCount - 3) more)" : ""
        let pruned = squashed > 0 ? " (and \(squashed) pruned before it)" : ""
        return "\(ISO8601DateFormatter().string(from: time))\t\(sequence.map(String.init) ?? "-")\t\(commit)\t\(shown)\(more)\(pruned)\(origin)"
    }
}

/// A change or version in history that a pull may have brought: which peer brought it
/// (`Sync-Pulled-From`) and where it was made (`Sync-Made-On`), by id and by the names known here.
public protocol Pulled {
    var pulledFrom: String? { get }
    var madeOn: [String] { get }
    var pulledFromName: String? { get set }
    var madeOnNames: [String?] { get set }
}

extension Pulled {
    /// ` (made on laptop)`, ` (made on laptop, from desktop)`, ` (from desktop)` (where unknown),
    /// or nothing for a change made here.
    var origin: String {
        guard let pulledFrom else { return "" }
        let peer = pulledFromName ?? String(pulledFrom.prefix(8))
        if madeOn.isEmpty { return " (from \(peer))" }
        let makers = madeOn.enumerated().map { i, id in (i < madeOnNames.count ? madeOnNames[i] : nil) ?? String(id.prefix(8)) }
        return madeOn == [pulledFrom] ? " (made on \(peer))" : " (made on \(makers.joined(separator: " and ")), from \(peer))"
    }

    /// The records with the names of the nodes they name, where known.
    public static func named(_ records: [Self], names: NodeNames) -> [Self] {
        records.map { r in
            var r = r
            r.pulledFromName = r.pulledFrom.flatMap(names.name(ofID:))
            r.madeOnNames = r.madeOn.map(names.name(ofID:))
            return r
        }
    }
}

extension LogEntry: Pulled {}
extension FileVersion: Pulled {}

extension LogEntry {
    /// A whole commit as `sync log` shows it: its changes as its message lists them.
    init(_ c: HistoryRepository.Commit) {
        let parsed = HistoryQueries.parse(message: c.message)
        self.init(commit: c.id.hex, sequence: parsed.sequence, time: c.time, node: parsed.node ?? c.author,
                  changes: parsed.changes, changeCount: parsed.count ?? parsed.changes.count, squashed: Pruner.squashed(c.message),
                  pulledFrom: parsed.pulledFrom, madeOn: parsed.madeOn)
    }
}

/// One kept version of a file, as `sync versions` shows it.
public struct FileVersion: Sendable, Encodable {
    public let commit: String
    public let time: Date
    public let node: String
    /// `A`, `M` or `D`.
    public let status: String
    /// The content's id (for a large file, the id its pointer names); nil for a deletion.
    public let blob: String?
    public let size: Int64?
    /// `history` (content in history), `versions` (a large file: its id and size are in history,
    /// its content in the version store or in the folder now), `pointer` (a large file whose
    /// content is kept nowhere any more), `link` (a symbolic link), `deleted`.
    public let kept: String
    /// The peer a pull brought this version from (nil: made on this node), and its name here; the
    /// nodes where it was made, and their names (as `LogEntry` has them).
    public var pulledFrom: String? = nil
    public var pulledFromName: String? = nil
    public var madeOn: [String] = []
    public var madeOnNames: [String?] = []
    /// The sequence its commit names (`Sync-Sequence`: the order of the changes of `node`, which
    /// times in whole seconds do not tell apart); not printed.
    var sequence: Int64?
    /// Whether `sync restore` and `sync show` can bring this version back.
    public var recoverable: Bool { kept != "pointer" && kept != "deleted" }

    private enum CodingKeys: String, CodingKey { case commit, time, node, status, blob, size, kept, recoverable, pulledFrom, pulledFromName, madeOn }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(commit, forKey: .commit); try c.encode(time, forKey: .time); try c.encode(node, forKey: .node)
        try c.encode(status, forKey: .status); try c.encode(blob, forKey: .blob); try c.encode(size, forKey: .size)
        try c.encode(kept, forKey: .kept); try c.encode(recoverable, forKey: .recoverable)
        try c.encode(pulledFrom, forKey: .pulledFrom); try c.encode(pulledFromName, forKey: .pulledFromName)
        try c.encode(madeOn, forKey: .madeOn)
    }

    /// `<time>\t<commit>\t<status>\t<size or ->\t<kept>`: the plumbing line; a version a pull
    /// brought ends with where it was made, as `sync log` says it.
    public var line: String {
        "\(ISO8601DateFormatter().string(from: time))\t\(commit)\t\(status)\t\(size.map(String.init) ?? "-")\t\(kept)\(origin)"
    }
}

/// Reading a folder's history: log, show, and finding versions by commit or time.
public struct HistoryQueries {
    public let context: FolderContext

    public init(_ context: FolderContext) { self.context = context }

    private var repo: HistoryRepository { get throws { try context.history } }

    /// Whether `time` lies between `since` and `until`, bounds included, in whole seconds (as
    /// commit times are).
    static func within(_ time: Date, since: Date?, until: Date?) -> Bool {
        let t = time.timeIntervalSince1970
        if let since, t < since.timeIntervalSince1970.rounded(.down) { return false }
        if let until, t > until.timeIntervalSince1970.rounded(.down) { return false }
        return true
    }

    typealias Entry = (id: ObjectID, mode: HistoryRepository.Mode?)

    /// What commit `c` did to `path` against its first parent, read off their trees: nil when nothing.
    private func treeChange(_ c: HistoryRepository.Commit, at path: RelativePath) throws -> (now: Entry?, before: Entry?, status: Change.Status)? {
        let now = try repo.entry(inTree: c.tree, path: path.rawValue)
        let before = try c.parents.first.flatMap { try repo.entry(inCommit: $0, path: path.rawValue) }
        if now?.id == before?.id && now?.mode == before?.mode { return nil }
        return (now, before, now == nil ? .deleted : before == nil ? .added : .modified)
    }

    /// The chains of other nodes kept here (their authored ones, copies kept aside, and this
    /// node's own fetched back by a repair), each with the node that made it.
    private func peerChains() throws -> [(ref: String, tip: ObjectID, node: String)] {
        let me = try context.state.identity().id
        return try wrap { try repo.sideChains() }.compactMap { c in
            guard c.name != HistoryRepository.authoredRef, let name = ChainName(ref: c.name, me: me) else { return nil }
            return (c.name, c.tip, name.node.rawValue)
        }
    }

    /// Commits newest first; with `path`, only those that changed it (or anything below it).
    /// `since` and `until` (inclusive) keep only commits made in that span.
    public func log(path: RelativePath? = nil, limit: Int? = nil, since: Date? = nil, until: Date? = nil) throws -> [LogEntry] {
        var out: [LogEntry] = []
        try wrap {
            try repo.log { c in
                guard Self.within(c.time, since: since, until: until) else { return true }
                if let path {
                    let parsed = Self.parse(message: c.message)
                    guard let change = try treeChange(c, at: path) else { return true }
                    var changes = parsed.changes.filter { $0.touches(path) }
                    if changes.isEmpty { changes = [Change(status: change.status, path: path.rawValue)] }
                    out.append(LogEntry(commit: c.id.hex, sequence: parsed.sequence, time: c.time, node: parsed.node ?? c.author,
                                        changes: changes, changeCount: changes.count, pulledFrom: parsed.pulledFrom, madeOn: parsed.madeOn))
                } else {
                    out.append(LogEntry(c))
                }
                return limit.map { out.count < $0 } ?? true
            }
        }
        return out
    }

    /// Every node's changes, newest first: this node's own (its history's), and every change of
    /// the authored chains of other nodes kept here (`HistoryFetch`), each once, at the time it was
    /// made. A commit a pull recorded stays only when some node it names as the maker has no chain
    /// here (its changes are not listed otherwise). `path`, `since`, `until` and `limit` as `log`.
    public func logAll(path: RelativePath? = nil, limit: Int? = nil, since: Date? = nil, until: Date? = nil) throws -> [LogEntry] {
        let me = try context.state.identity().id.rawValue
        let chains = try peerChains()
        let chainNodes = Set(chains.map(\.node))
        func key(_ e: LogEntry) -> String { "\(e.node) \(e.sequence ?? -1) \(Int(e.time.timeIntervalSince1970))" }
        var out = try log(path: path, since: since, until: until).filter { e in
            e.pulledFrom == nil || e.madeOn.isEmpty || !e.madeOn.allSatisfy(chainNodes.contains)
        }
        var seen = Set(out.map(key))
        try wrap {
            for chain in chains {
                let node = chain.node
                for c in try repo.chain(from: chain.tip) where Self.within(c.time, since: since, until: until) {
                    var e = LogEntry(c)
                    if node != me { e.pulledFrom = node; e.madeOn = [node] }
                    guard !seen.contains(key(e)) else { continue }
                    if let path {
                        let parsed = Self.parse(message: c.message)
                        var changes = parsed.changes.filter { $0.touches(path) }
                        if changes.isEmpty, (parsed.count ?? 0) > parsed.changes.count, let change = try treeChange(c, at: path) {
                            // The message lists the first thousand changes only: the trees tell.
                            changes = [Change(status: change.status, path: path.rawValue)]
                        }
                        guard !changes.isEmpty else { continue }
                        e = LogEntry(commit: e.commit, sequence: e.sequence, time: e.time, node: e.node, changes: changes,
                                     changeCount: changes.count, pulledFrom: e.pulledFrom, madeOn: e.madeOn)
                    }
                    seen.insert(key(e))
                    out.append(e)
                }
            }
        }
        let sorted = out.enumerated().sorted { a, b in
            a.element.time != b.element.time ? a.element.time > b.element.time : a.offset < b.offset
        }.map(\.element)
        return limit.map { Array(sorted.prefix($0)) } ?? sorted
    }

    /// Every version of the file at `path` that history keeps, newest first: one per commit of
    /// this node's history that changed it (a deletion included), and one per change of it that
    /// another node made, from that node's authored history fetched from peers (`HistoryFetch`).
    /// A version a pull brought that is also in its maker's history is listed once, from there:
    /// with the time it was made rather than the time it came.
    public func versions(of path: RelativePath) throws -> [FileVersion] {
        let own = try localVersions(of: path)
        let others = try peerVersions(of: path)
        guard !others.isEmpty else { return own }
        let made = Set(others.map { "\($0.node) \($0.blob ?? "-")" })
        // This node's own versions that a repair brought back from a peer (`HistoryFetch.repair`)
        // and that its history still holds: listed once, from its history.
        let me = try context.state.identity().id.rawValue
        let held = Set(own.filter { $0.pulledFrom == nil }.map { "\($0.blob ?? "-") \(Int($0.time.timeIntervalSince1970))" })
        var merged = own.filter { v in
            guard v.pulledFrom != nil, v.madeOn.count == 1 else { return true }
            return !made.contains("\(v.madeOn[0]) \(v.blob ?? "-")")
        } + others.filter { $0.node != me || !held.contains("\($0.blob ?? "-") \(Int($0.time.timeIntervalSince1970))") }
        // A history started anew records the folder as it was (`Sync-Seed`): not a version of its
        // own when the same content is listed as made somewhere.
        let seeds = try Set(own.filter { try repo.commit(ObjectID(hex: $0.commit)).message.contains("\nSync-Seed: ") }.map(\.commit))
        if !seeds.isEmpty {
            let blobs = merged.filter { !seeds.contains($0.commit) }.compactMap(\.blob)
            merged.removeAll { seeds.contains($0.commit) && $0.blob.map(blobs.contains) == true }
        }
        return Self.newestFirst(merged)
    }

    /// By time, newest first. Commit times have whole seconds: versions of the same second go by
    /// the node that recorded them, then by its sequence, newest first (this node's own, listed
    /// from its history and from a repaired copy, in the order it made them), then in the order given.
    static func newestFirst(_ versions: [FileVersion]) -> [FileVersion] {
        versions.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            if x.time != y.time { return x.time > y.time }
            if x.node != y.node { return x.node < y.node }
            if x.sequence != y.sequence { return (x.sequence ?? -1) > (y.sequence ?? -1) }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// How many commits of this node's own authored chain a repair keeps here (0: none).
    public func repairedChainLength() throws -> Int {
        try wrap {
            let me = try context.state.identity().id.rawValue
            var commits = Set<ObjectID>()
            for c in try peerChains() where c.node == me {
                commits.formUnion(try repo.chain(from: c.tip, after: nil, limit: Int.max).commits)
            }
            return commits.count
        }
    }

    /// The versions of `path` in the authored histories of other nodes kept here (their chains,
    /// and copies kept aside when a chain was rewritten), each change once (same node, content and
    /// time), newest first. Read from the changes each chain's commits list, kept in index.db
    /// (`refreshChainChanges`): only the commits that changed the path are read.
    func peerVersions(of path: RelativePath) throws -> [FileVersion] {
        try refreshChainChanges()
        var out: [FileVersion] = []
        var seen = Set<String>()
        let identity = try context.state.identity().id
        let me = identity.rawValue
        try wrap {
            for row in try context.index.chainChanges(of: path.rawValue) {
                guard let node = ChainName(ref: row.chain, me: identity)?.node.rawValue else { continue }
                let c = try repo.commit(try ObjectID(hex: row.commit))
                guard let change = try treeChange(c, at: path) else { continue }
                guard seen.insert("\(node) \(change.now?.id.hex ?? "-") \(Int(c.time.timeIntervalSince1970))").inserted else { continue }
                let status = row.path.isEmpty ? change.status.rawValue : row.status
                // This node's own, brought back by a repair, reads as made here.
                let mine = node == me
                var v = try version(c.id.hex, time: c.time, node: node, status: status, entry: change.now,
                                    pulledFrom: mine ? nil : node, madeOn: mine ? [] : [node], path: path)
                v.sequence = Self.parse(message: c.message).sequence
                out.append(v)
            }
        }
        return Self.newestFirst(out)
    }

    /// Brings the changes of other nodes' chains kept in index.db up to the chains' references:
    /// the commits a chain gained since its tip there (all of it when the chain was rewritten), each
    /// change its message lists (a commit that lists only some: one row that says so), and chains
    /// that are gone forgotten. A cache of history, checked against it at each use.
    public func refreshChainChanges() throws {
        let chains = try peerChains()
        let cached = try context.index.chainTips()
        for chain in chains where cached[chain.ref] != chain.tip.hex {
            var changes: [FolderIndex.ChainChange] = []
            var reached = false
            let old = cached[chain.ref]
            try wrap {
                try repo.walkChain(from: chain.tip) { c in
                    if c.id.hex == old { reached = true; return false }
                    let parsed = Self.parse(message: c.message)
                    let time = Int64(c.time.timeIntervalSince1970)
                    func row(_ path: String, _ status: String) -> FolderIndex.ChainChange {
                        FolderIndex.ChainChange(chain: chain.ref, path: path, commit: c.id.hex, time: time, status: status)
                    }
                    var rows = parsed.changes.map { row($0.path, $0.status.rawValue) } + parsed.changes.compactMap { ch in ch.from.map { row($0, ch.status.rawValue) } }
                    if (parsed.count ?? 0) > parsed.changes.count { rows.append(row("", "")) }
                    changes += rows
                    return true
                }
            }
            // Oldest first: later rows are newer, which the reading order relies on for ties.
            try context.index.noteChain(chain.ref, tip: chain.tip.hex, changes: changes.reversed(), replacing: !reached)
        }
        try context.index.keepChains(Set(chains.map(\.ref)))
    }

    /// One version as `sync versions` lists it: `entry` is what the commit holds at `path`.
    private func version(_ commit: String, time: Date, node: String, status: String, entry: (id: ObjectID, mode: HistoryRepository.Mode?)?,
                         pulledFrom: String?, madeOn: [String], path: RelativePath) throws -> FileVersion {
        guard let (id, mode) = entry else {
            return FileVersion(commit: commit, time: time, node: node, status: "D", blob: nil, size: nil, kept: "deleted",
                               pulledFrom: pulledFrom, madeOn: madeOn)
        }
        if mode == .directory {
            throw SyncError.refused("\(path): a directory; sync versions lists the versions of one file (sync log lists a directory's changes)")
        }
        let size = try repo.blobSize(id)
        if let ptr = try largePointer(id) {
            return FileVersion(commit: commit, time: time, node: node, status: status, blob: ptr.id, size: ptr.size,
                               kept: try source(of: ptr) == nil ? "pointer" : "versions", pulledFrom: pulledFrom, madeOn: madeOn)
        }
        return FileVersion(commit: commit, time: time, node: node, status: status, blob: id.hex, size: size,
                           kept: mode == .symlink ? "link" : "history", pulledFrom: pulledFrom, madeOn: madeOn)
    }

    /// The versions of `path` in this node's own history (`main`), newest first.
    func localVersions(of path: RelativePath) throws -> [FileVersion] {
        try log(path: path).map { e in
            try wrap {
                let commit = try ObjectID(hex: e.commit)
                let entry = try repo.entry(inCommit: commit, path: path.rawValue)
                let status = e.changes.first(where: { $0.path == path.rawValue || $0.from == path.rawValue })?.status.rawValue ?? "M"
                var v = try version(e.commit, time: e.time, node: e.node, status: status, entry: entry,
                                    pulledFrom: e.pulledFrom, madeOn: e.madeOn, path: path)
                v.sequence = e.sequence
                return v
            }
        }
    }

    /// The diff between two commits (`from` nil: what `to` changed against its parent), limited to
    /// `path` when given; binary files get a line with their sizes instead of their bytes.
    public func diff(from: ObjectID?, to: ObjectID, path: RelativePath?) throws -> String {
        try wrap {
            let new = try repo.commit(to)
            let oldTree: ObjectID?
            if let from { oldTree = try repo.commit(from).tree } else { oldTree = try new.parents.first.map { try repo.commit($0).tree } }
            let (patch, files) = try repo.diff(from: oldTree, to: new.tree, paths: path.map { [$0.rawValue] } ?? [])
            var text = patch
            for f in files where f.binary {
                let line = "Binary files \(f.oldSize == 0 ? "/dev/null" : "a/" + f.oldPath) and \(f.newSize == 0 ? "/dev/null" : "b/" + f.newPath) differ"
                text = text.replacingOccurrences(of: line + "\n", with: line + " (\(f.oldSize) -> \(f.newSize) bytes)\n")
            }
            return text
        }
    }

    /// The parts of a commit message that `Committer` writes.
    static func parse(message: String) -> (changes: [Change], count: Int?, sequence: Int64?, node: String?, pulledFrom: String?, madeOn: [String]) {
        var changes: [Change] = []
        var sequence: Int64?, node: String?, count: Int?, pulledFrom: String?, madeOn: [String] = []
        for (i, line) in message.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if i == 0, line.hasPrefix("sync: "), let n = Int(line.dropFirst(6).prefix(while: { $0.isNumber })) { count = n }
            if line.hasPrefix("Sync-Sequence: ") { sequence = Int64(line.dropFirst(15)) }
            else if line.hasPrefix("Sync-Node: ") { node = String(line.dropFirst(11)) }
            else if line.hasPrefix("Sync-Pulled-From: ") { pulledFrom = String(line.dropFirst(18)) }
            else if line.hasPrefix("Sync-Made-On: ") { madeOn = line.dropFirst(14).split(separator: " ").map(String.init) }
            else if let c = Change(line: line) { changes.append(c) }
        }
        return (changes, count, sequence, node, pulledFrom, madeOn)
    }

    /// A revision (commit id, prefix, `main~3`) to a commit id.
    /// A revision as git reads it (`HEAD~2`, an abbreviated id), or a sequence number as `sync log`
    /// prints them: the commit that recorded the folder as it was at that sequence. Numbers too
    /// short for a commit id (below 4 digits) are sequences; longer ones are tried as ids first.
    public func resolve(_ revision: String) throws -> ObjectID {
        let sequence = revision.allSatisfy(\.isASCII) && revision.allSatisfy(\.isNumber) ? Int64(revision) : nil
        if let sequence, revision.count < 4 { return try commit(atSequence: sequence) }
        do { return try repo.resolve(revision == "HEAD" ? "main" : revision.replacingOccurrences(of: "HEAD", with: "main")) }
        catch let e as GitError {
            if let sequence, let c = try? commit(atSequence: sequence) { return c }
            throw SyncError.notFound("folder \(context.folder.id): commit \(revision) (\(e.message))")
        }
    }

    /// The newest commit whose sequence (its `Sync-Sequence` trailer) is at most `sequence`.
    public func commit(atSequence sequence: Int64) throws -> ObjectID {
        guard let found = try newest(where: { Self.parse(message: $0.message).sequence.map { $0 <= sequence } ?? false }) else {
            throw SyncError.notFound("folder \(context.folder.id): a commit at sequence \(sequence) or before")
        }
        return found
    }

    /// The newest commit, walking back from `main`, that `matches`.
    private func newest(where matches: (HistoryRepository.Commit) -> Bool) throws -> ObjectID? {
        var found: ObjectID?
        try wrap { try repo.log { c in
            if matches(c) { found = c.id; return false }
            return true
        } }
        return found
    }

    /// The newest commit made at or before `time`.
    public func commit(atOrBefore time: Date) throws -> ObjectID {
        guard let found = try newest(where: { $0.time <= time }) else {
            throw SyncError.notFound("folder \(context.folder.id): no commit at or before \(ISO8601DateFormatter().string(from: time))")
        }
        return found
    }

    /// Commit details and its changes, as `sync show COMMIT` prints them.
    public func describe(_ id: ObjectID) throws -> String {
        try wrap {
            let c = try repo.commit(id)
            let parsed = Self.parse(message: c.message)
            var lines = ["commit \(c.id.hex)"]
            if let p = c.parents.first { lines.append("parent \(p.hex)") }
            lines.append("date \(ISO8601DateFormatter().string(from: c.time))")
            lines.append("node \(parsed.node ?? c.author)")
            if let s = parsed.sequence { lines.append("sequence \(s)") }
            lines.append("")
            lines += parsed.changes.map(\.line)
            if let n = parsed.count, n > parsed.changes.count { lines.append("... \(n - parsed.changes.count) more") }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// What `path` is in commit `id`: nil when absent.
    public func entry(_ id: ObjectID, path: RelativePath) throws -> (id: ObjectID, mode: HistoryRepository.Mode?)? {
        try wrap { try repo.entry(inCommit: id, path: path.rawValue) }
    }

    /// The root tree of commit `id`.
    public func tree(of id: ObjectID) throws -> ObjectID {
        try wrap { try repo.commit(id).tree }
    }

    /// Lists a directory of a commit: `<mode> <id> <path>` lines, recursively.
    public func listing(_ tree: ObjectID, prefix: String) throws -> [String] {
        var out: [String] = []
        try wrap { try repo.walk(tree: tree) { p, id, mode in
            let m = String(mode?.rawValue ?? 0, radix: 8).leftPadded6
            out.append("\(m) \(id.hex)\t\(PathQuoting.quote(prefix.isEmpty ? p : prefix + "/" + p))")
        } }
        return out
    }

    /// The large-file pointer blob `id` holds, if it is one.
    func largePointer(_ id: ObjectID) throws -> LargeFilePointer? {
        try wrap { try repo.blobSize(id) < 200 ? LargeFilePointer(try repo.blob(id)) : nil }
    }

    /// The id of the content blob `id` stands for: its own, or the one a large-file pointer names.
    func contentID(of id: ObjectID) throws -> String { try largePointer(id)?.id ?? id.hex }

    /// A file that holds a large file's content now: its copy in the folder's version store, else a
    /// file of the folder with that content (by the index; checked again when it is copied).
    public func source(of ptr: LargeFilePointer) throws -> String? {
        let kept = context.folder.directory + "/versions/" + ptr.id
        var st = stat()
        if lstat(kept, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) == ptr.size { return kept }
        for p in try context.index.files(withHash: ptr.id) {
            let abs = context.absolute(p)
            if lstat(abs, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) == ptr.size { return abs }
        }
        return nil
    }

    /// Writes a version's content to a file descriptor: a blob from history, or a large file's
    /// content from the version store or the folder, verified against its id.
    public func write(blob id: ObjectID, path: RelativePath, to fd: Int32) throws {
        guard let ptr = try largePointer(id) else { return try wrap { try repo.write(blob: id, to: fd) } }
        guard let from = try source(of: ptr) else {
            throw SyncError.notFound("\(path): a large file (\(Units.formatBytes(ptr.size))) whose old content \(ptr.id.prefix(12)) is kept neither in the version store nor in the folder; its content")
        }
        let src = try Descriptor(opening: from, O_RDONLY | O_NOFOLLOW)
        // Hashed as it goes: `fd` may be a pipe (sync show).
        var hasher = BlobHasher(size: ptr.size)
        try FileSystem.copy(from: src.raw, to: fd, what: from) { hasher.update($0) }
        guard hasher.finish() == ptr.id else {
            throw SyncError.corrupt(path: from, message: "does not hold \(ptr.id.prefix(12)) any more")
        }
    }

    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as GitError {
            throw SyncError.history(path: context.folder.historyPath, message: e.description)
        }
    }
}

extension String {
    var leftPadded6: String { count >= 6 ? self : String(repeating: "0", count: 6 - count) + self }
}
