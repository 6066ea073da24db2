import Foundation
import GRDB


/// The keys of the index's `meta` table, spelled once.
public enum MetaKey {
    /// This node's last sequence number.
    public static let sequence = "sequence"
    /// Made when the index is made: a peer that sees it change starts over from sequence 0.
    public static let epoch = "epoch"
    /// The history commit the index was last recorded with.
    public static let commit = "commit"
    /// A new random value with every write to the rows: which state of them a copy was taken
    /// from (`StatCache`).
    static let rowsStamp = "rows.stamp"
    /// Where the mass-deletion guard's hold began.
    static let holdFrom = "hold.from"
    /// The peer's last sequence this node holds.
    public static func peerSequence(_ peer: String) -> String { "peer.\(peer).sequence" }
    /// The peer's epoch as this node last saw it.
    public static func peerEpoch(_ peer: String) -> String { "peer.\(peer).epoch" }
    /// `FROM TO`: this node's sequences that only repeat the peer's own rows.
    public static func peerEcho(_ peer: String) -> String { "peer.\(peer).echo" }
    /// How far the peer has seen this node's rows.
    static func peerSeen(_ peer: String) -> String { "peer.\(peer).seen" }
    /// How far the peer's latest pull was sent this node's rows (status only).
    static func peerSent(_ peer: String) -> String { "peer.\(peer).sent" }
}

/// A folder's index: one SQLite database (WAL) with a row per path and the folder's sequence number.
public final class FolderIndex: Sendable {
    private let queue: DatabaseQueue
    public let path: String

    /// Opens (creating if needed) the index at `path`.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS files (
                        path TEXT PRIMARY KEY, kind TEXT NOT NULL, hash TEXT, size INTEGER NOT NULL,
                        mtime INTEGER NOT NULL, ctime INTEGER NOT NULL, inode INTEGER NOT NULL,
                        executable INTEGER NOT NULL, target TEXT, deleted INTEGER NOT NULL,
                        version TEXT NOT NULL, sequence INTEGER NOT NULL);
                    CREATE INDEX IF NOT EXISTS files_sequence ON files(sequence);
                    CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
                    CREATE TABLE IF NOT EXISTS manifests (hash TEXT PRIMARY KEY, manifest BLOB NOT NULL);
                    CREATE TABLE IF NOT EXISTS chain_tips (chain TEXT PRIMARY KEY, tip TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS chain_changes (
                        chain TEXT NOT NULL, path TEXT NOT NULL, commit_id TEXT NOT NULL, time INTEGER NOT NULL, status TEXT NOT NULL);
                    CREATE INDEX IF NOT EXISTS chain_changes_path ON chain_changes(path);
                    INSERT OR IGNORE INTO meta(key, value) VALUES ('sequence', '0');
                    """)
                try db.execute(sql: "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                               arguments: [MetaKey.rowsStamp, Self.newStamp()])
            }
        } catch let e as DatabaseError {
            throw SyncError.database(path: path, message: e.message ?? "\(e)")
        }
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatabaseError {
            throw SyncError.database(path: path, message: e.message ?? "\(e)")
        }
    }

    /// The folder's sequence number: the sequence of its last recorded change.
    public func sequence() throws -> Int64 {
        try wrap { try queue.read { db in try Int64(meta(db, MetaKey.sequence) ?? "0") ?? 0 } }
    }

    /// A stored value of the index's own bookkeeping, such as the last recorded commit.
    public func meta(_ key: String) throws -> String? {
        try wrap { try queue.read { db in try meta(db, key) } }
    }

    private func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    /// The row for `path`, deleted or not.
    public func entry(_ path: RelativePath) throws -> FileEntry? {
        // One statement, atomic on its own: no transaction around it. Prepared once per
        // connection: it is asked once per file served and per file checked.
        try wrap { try queue.unsafeRead { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM files WHERE path = ?"), arguments: [path.rawValue]).map(Self.entry)
        } }
    }

    /// The size of the live file `path` when its content is `hash`; nil for anything else (no
    /// row, a deletion, another kind, other content). The one question of a served file: asked once
    /// per file, it reads three columns and parses no version.
    public func servedSize(_ path: RelativePath, hash: String) throws -> Int64? {
        try wrap { try queue.unsafeRead { db in
            try Int64.fetchOne(try db.cachedStatement(sql: "SELECT size FROM files WHERE path = ? AND hash = ? AND kind = 'file' AND deleted = 0"),
                               arguments: [path.rawValue, hash])
        } }
    }

    /// The rows of `paths` that exist, in one read.
    public func entries(_ paths: [RelativePath]) throws -> [RelativePath: FileEntry] {
        try wrap { try queue.read { db in
            var out: [RelativePath: FileEntry] = [:]
            try Self.inChunks(paths.map(\.rawValue)) { chunk, marks in
                for row in try Row.fetchAll(db, sql: "SELECT * FROM files WHERE path IN (\(marks))",
                                            arguments: StatementArguments(Array(chunk))) {
                    let e = try Self.entry(row)
                    out[e.path] = e
                }
            }
            return out
        } }
    }

    /// Calls `body` with `values` 500 at a time and the `?, ?, ...` marks for them (SQLite takes
    /// a limited number of arguments per statement).
    private static func inChunks(_ values: [String], _ body: (ArraySlice<String>, String) throws -> Void) rethrows {
        var i = 0
        while i < values.count {
            let chunk = values[i..<min(i + 500, values.count)]
            try body(chunk, Array(repeating: "?", count: chunk.count).joined(separator: ","))
            i += 500
        }
    }

    /// The stat data of at most `limit` rows after `path` (from the first row when nil), in path
    /// order (bytes compared): what a scan compares against, without hashes or version vectors, a
    /// page at a time. Paths come from this index's own rows, validated when they were recorded.
    public func stats(after path: RelativePath?, limit: Int) throws -> [(RelativePath, IndexStat)] {
        try wrap { try queue.unsafeRead { db in
            var out: [(RelativePath, IndexStat)] = []
            out.reserveCapacity(limit)
            let rows = try Row.fetchCursor(try db.cachedStatement(sql: Self.statsSQL), arguments: [path?.rawValue ?? "", limit])
            while let row = try rows.next() {
                let p: String = row[0]
                guard let kind = FileEntry.Kind(rawValue: row[1]) else { throw SyncError.corrupt(path: p, message: "bad index row") }
                out.append((RelativePath(unchecked: p), IndexStat(kind: kind, size: row[2], mtimeNs: row[3], ctimeNs: row[4],
                                                                  inode: UInt64(bitPattern: row[5] as Int64),
                                                                  executable: row[6], deleted: row[7])))
            }
            return out
        } }
    }

    /// A page of stat rows: a search in the path key, in its order (no sort of every row).
    static let statsSQL = """
        SELECT path, kind, size, mtime, ctime, inode, executable, deleted FROM files
        WHERE path > ? ORDER BY path LIMIT ?
        """

    /// Every row, sorted by path.
    public func allEntries() throws -> [FileEntry] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM files ORDER BY path").map(Self.entry)
        } }
    }

    /// Rows at `path` and below it.
    public func entries(under path: RelativePath) throws -> [FileEntry] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: Self.underSQL, arguments: Self.underArguments(path)).map(Self.entry)
        } }
    }

    /// The rows below a path are those from "path/" up to "path0" ('0' follows '/' in byte
    /// order, which is how the key compares): two lookups in the path key, not a pass over every
    /// row (a pull of n files asks this for each of them).
    static let underSQL = """
        SELECT * FROM files WHERE path = ?1
        UNION ALL SELECT * FROM files WHERE path >= ?2 AND path < ?3
        ORDER BY path
        """
    static func underArguments(_ path: RelativePath) -> StatementArguments {
        [path.rawValue, path.rawValue + "/", path.rawValue + "0"]
    }

    /// SQLite's plan for `sql` (tests check that a query uses the path key).
    func queryPlan(_ sql: String, _ arguments: StatementArguments) throws -> [String] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
        } }
    }

    /// Rows that changed after sequence `seq`, in sequence order.
    public func entries(since seq: Int64) throws -> [FileEntry] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM files WHERE sequence > ? ORDER BY sequence", arguments: [seq]).map(Self.entry)
        } }
    }

    /// At most `limit` rows that changed after sequence `seq`, in sequence order.
    public func entries(since seq: Int64, limit: Int) throws -> [FileEntry] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM files WHERE sequence > ? ORDER BY sequence LIMIT ?",
                             arguments: [seq, limit]).map(Self.entry)
        } }
    }

    /// Paths of live files whose content has `hash`.
    public func files(withHash hash: String) throws -> [RelativePath] {
        try wrap { try queue.read { db in
            try String.fetchAll(db, sql: "SELECT path FROM files WHERE hash = ? AND deleted = 0 AND kind = 'file'",
                                arguments: [hash]).map { RelativePath(unchecked: $0) }
        } }
    }

    /// The chunk manifest kept for content `hash` (a file above `history.max-blob`), as stored.
    public func manifest(for hash: String) throws -> [UInt8]? {
        try wrap { try queue.unsafeRead { db in
            try Data.fetchOne(try db.cachedStatement(sql: "SELECT manifest FROM manifests WHERE hash = ?"), arguments: [hash]).map { [UInt8]($0) }
        } }
    }

    /// Keeps the chunk manifests of content ids (files above `history.max-blob`), then lets go
    /// of those no live file has any more: call it once the rows that name them are recorded.
    public func keepManifests(_ manifests: [String: [UInt8]]) throws {
        try wrap { try queue.write { db in
            for (hash, manifest) in manifests {
                try db.execute(sql: "INSERT OR REPLACE INTO manifests(hash, manifest) VALUES (?, ?)", arguments: [hash, Data(manifest)])
            }
            try db.execute(sql: """
                DELETE FROM manifests WHERE NOT EXISTS
                    (SELECT 1 FROM files WHERE files.hash = manifests.hash AND deleted = 0 AND kind = 'file')
                """)
        } }
    }

    /// One change a commit of an authored chain lists (`path` empty: the commit changed more than
    /// its message lists; its trees tell).
    public struct ChainChange: Sendable, Equatable {
        public let chain: String
        public let path: String
        public let commit: String
        public let time: Int64
        public let status: String
        public init(chain: String, path: String, commit: String, time: Int64, status: String) {
            self.chain = chain; self.path = path; self.commit = commit; self.time = time; self.status = status
        }
    }

    /// The tip of each authored chain whose changes `chainChanges` holds (a cache of history: it is
    /// checked against the chains' references before use, and made again when they moved).
    public func chainTips() throws -> [String: String] {
        try wrap { try queue.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT chain, tip FROM chain_tips").map { ($0["chain"] as String, $0["tip"] as String) },
                       uniquingKeysWith: { a, _ in a })
        } }
    }

    /// Records `changes` of `chain` (oldest first), now at `tip` (after the ones held, or in their
    /// place with `replacing`), in one transaction.
    public func noteChain(_ chain: String, tip: String, changes: [ChainChange], replacing: Bool) throws {
        try wrap { try queue.write { db in
            if replacing { try db.execute(sql: "DELETE FROM chain_changes WHERE chain = ?", arguments: [chain]) }
            let insert = try db.cachedStatement(sql: "INSERT INTO chain_changes(chain, path, commit_id, time, status) VALUES (?, ?, ?, ?, ?)")
            for c in changes { try insert.execute(arguments: [c.chain, c.path, c.commit, c.time, c.status]) }
            try db.execute(sql: "INSERT OR REPLACE INTO chain_tips(chain, tip) VALUES (?, ?)", arguments: [chain, tip])
        } }
    }

    /// Forgets the chains not in `keep`.
    public func keepChains(_ keep: Set<String>) throws {
        try wrap { try queue.write { db in
            for chain in try String.fetchAll(db, sql: "SELECT chain FROM chain_tips") where !keep.contains(chain) {
                try db.execute(sql: "DELETE FROM chain_changes WHERE chain = ?", arguments: [chain])
                try db.execute(sql: "DELETE FROM chain_tips WHERE chain = ?", arguments: [chain])
            }
        } }
    }

    /// The recorded changes of `path` (and the commits that changed more than they list), newest first.
    public func chainChanges(of path: String) throws -> [ChainChange] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT chain, path, commit_id, time, status FROM chain_changes WHERE path = ? OR path = '' ORDER BY time DESC, rowid DESC",
                             arguments: [path]).map {
                ChainChange(chain: $0["chain"], path: $0["path"], commit: $0["commit_id"], time: $0["time"], status: $0["status"])
            }
        } }
    }

    /// Which of `hashes` a live file of this index has, in one read per 500.
    public func heldHashes(_ hashes: [String]) throws -> Set<String> {
        try wrap { try queue.read { db in
            var out: Set<String> = []
            try Self.inChunks(hashes) { chunk, marks in
                out.formUnion(try String.fetchAll(db, sql: "SELECT DISTINCT hash FROM files WHERE hash IN (\(marks)) AND deleted = 0 AND kind = 'file'",
                                                  arguments: StatementArguments(Array(chunk))))
            }
            return out
        } }
    }

    /// A random id of this index, made once: a peer that sees it change starts over from sequence 0.
    public func epoch() throws -> String {
        if let e = try meta(MetaKey.epoch) { return e }
        try setMeta(MetaKey.epoch, String(UInt64.random(in: 0...UInt64.max), radix: 36), onlyIfMissing: true)
        return try meta(MetaKey.epoch) ?? ""
    }

    /// The sequence of `peer`'s index this node holds (stored by each pull), if any.
    public func peerSequence(_ peer: String) throws -> Int64? { try meta(MetaKey.peerSequence(peer)).flatMap { Int64($0) } }

    /// The range (from, to] of this node's sequences that only repeat `peer`'s own rows, if one is known.
    public func echoRange(_ peer: String) throws -> (from: Int64, to: Int64)? {
        guard let r = try meta(MetaKey.peerEcho(peer))?.split(separator: " ").compactMap({ Int64($0) }), r.count == 2 else { return nil }
        return (r[0], r[1])
    }

    /// The first sequence of a change the deletion guard holds back, if one is held: rows from it
    /// on stay on this node until `release`.
    public func heldFrom() throws -> Int64? { try meta(MetaKey.holdFrom).flatMap { Int64($0) } }

    /// The sequence peers may see: the folder's, or the last one before a held change.
    public func servedSequence() throws -> Int64 {
        let sequence = try self.sequence()
        return try heldFrom().map { min(sequence, $0 - 1) } ?? sequence
    }

    /// How many files deleted from sequence `from` on are still deleted: what a held deletion
    /// removed and nothing brought back since.
    public func filesStillDeleted(since from: Int64) throws -> Int {
        try wrap { try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM files WHERE sequence >= ? AND deleted = 1 AND kind != 'directory'",
                             arguments: [from]) ?? 0
        } }
    }

    /// Lets a held change go; returns where the hold began, nil when nothing was held.
    public func release() throws -> Int64? {
        try wrap { try queue.write { db in
            let from = try meta(db, MetaKey.holdFrom).flatMap { Int64($0) }
            try db.execute(sql: "DELETE FROM meta WHERE key = 'hold.from'")
            return from
        } }
    }

    /// Notes that `peer` asked for rows after `since`: it holds every row up to it (up to what
    /// this node serves, at most). Kept as the highest such sequence (`peer.<id>.seen`).
    public func noteSeen(by peer: String, upTo since: Int64) throws {
        guard since > 0 else { return }
        let sequence = min(since, try servedSequence())
        let key = MetaKey.peerSeen(peer)
        // Most requests repeat what is known: a read, without waiting for the write lock.
        if let old = try meta(key).flatMap({ Int64($0) }), old >= sequence { return }
        try wrap { try queue.write { db in
            if let old = try meta(db, key).flatMap({ Int64($0) }), old >= sequence { return }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [key, String(sequence)])
        } }
    }

    /// Notes that `peer`'s pull ended with every row up to `sequence` sent to it (for sync status
    /// only: unlike `noteSeen`, it does not say the peer applied them).
    public func noteSent(to peer: String, upTo sequence: Int64) throws {
        let key = MetaKey.peerSent(peer)
        if let old = try meta(key).flatMap({ Int64($0) }), old == sequence { return }
        try setMeta(key, String(sequence))
    }

    /// For every peer that ever asked this folder for rows, how far it has seen (`noteSeen`).
    public func acknowledged() throws -> [String: Int64] {
        try wrap { try queue.read { db in
            var out: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM meta WHERE key LIKE 'peer.%.seen'") {
                let key: String = row[0]
                if let v = Int64(row[1] as String) { out[String(key.dropFirst(5).dropLast(5))] = v }
            }
            return out
        } }
    }

    /// Stops waiting for `peer` to see deletion records; returns whether it was known.
    @discardableResult
    public func forgetSeen(by peer: String) throws -> Bool {
        try wrap { try queue.write { db in
            try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [MetaKey.peerSeen(peer)])
            return db.changesCount > 0
        } }
    }

    /// Deletion records made before `mtimeNs` (a deletion's mtime is when it was recorded).
    public func tombstones(before mtimeNs: Int64) throws -> [FileEntry] {
        try wrap { try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM files WHERE deleted = 1 AND mtime < ? ORDER BY sequence",
                             arguments: [mtimeNs]).map(Self.entry)
        } }
    }

    /// Which state of the rows the index holds: a value that changes with every write to them.
    public func rowsStamp() throws -> String {
        try wrap { try queue.read { db in try meta(db, MetaKey.rowsStamp) ?? "" } }
    }

    static func newStamp() -> String { UUID().uuidString }

    /// Marks the rows as changed (in the transaction that changes them).
    private func stampRows(_ db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [MetaKey.rowsStamp, Self.newStamp()])
    }

    /// Removes deletion records (only rows that are deletions).
    public func removeTombstones(_ paths: [RelativePath]) throws {
        try wrap { try queue.write { db in
            try stampRows(db)
            let delete = try db.cachedStatement(sql: "DELETE FROM files WHERE path = ? AND deleted = 1")
            for p in paths { try delete.execute(arguments: [p.rawValue]) }
        } }
    }

    /// Stores a bookkeeping value.
    public func setMeta(_ key: String, _ value: String, onlyIfMissing: Bool = false) throws {
        try wrap { try queue.write { db in
            try db.execute(sql: "INSERT OR \(onlyIfMissing ? "IGNORE" : "REPLACE") INTO meta(key, value) VALUES (?, ?)",
                           arguments: [key, value])
        } }
    }

    /// Live (not deleted) file count and byte total.
    /// What `peer` has not seen of this node's changes: rows after the last sequence it asked from
    /// (`noteSeen`; all when it never asked) up to what is served, without those that only repeat
    /// its own rows (`echoRange`). `bytes` is the content of the files among them.
    /// Rows up to the last answer of its latest pull (`noteSent`) count as seen here.
    public func unseen(by peer: String) throws -> (changes: Int, bytes: Int64) {
        let seen = max(try meta(MetaKey.peerSeen(peer)).flatMap { Int64($0) } ?? 0,
                       try meta(MetaKey.peerSent(peer)).flatMap { Int64($0) } ?? 0)
        let served = try servedSequence()
        let echo = try echoRange(peer) ?? (0, 0)
        return try wrap { try queue.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT count(*), coalesce(sum(CASE WHEN deleted = 0 AND kind = 'file' THEN size ELSE 0 END), 0) FROM files
                WHERE sequence > ? AND sequence <= ? AND NOT (sequence > ? AND sequence <= ?)
                """, arguments: [seen, served, echo.from, echo.to])!
            return (row[0], row[1])
        } }
    }

    public func totals() throws -> (files: Int, bytes: Int64) {
        try wrap { try queue.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0) FROM files WHERE deleted = 0 AND kind != 'directory'")!
            return (row[0], row[1])
        } }
    }

    /// Records `changes` in one transaction: each gets the next sequence number; `refreshed` rows only
    /// update their stat data. Stores `commit` as the last recorded commit. Returns the new folder sequence.
    @discardableResult
    public func record(changes: [FileEntry], refreshed: [FileEntry] = [], commit: String?,
                       meta extra: [(String, String)] = []) throws -> Int64 {
        try wrap { try queue.write { db in
            try stampRows(db)
            var seq = try Int64(meta(db, MetaKey.sequence) ?? "0") ?? 0
            for var e in changes {
                seq += 1
                e.sequence = seq
                try upsert(db, e)
            }
            for e in refreshed {
                try db.cachedStatement(sql: "UPDATE files SET size = ?, mtime = ?, ctime = ?, inode = ? WHERE path = ?")
                    .execute(arguments: [e.size, e.mtimeNs, e.ctimeNs, Int64(bitPattern: e.inode), e.path.rawValue])
            }
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'sequence'", arguments: [String(seq)])
            if let commit {
                try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('commit', ?)", arguments: [commit])
            }
            for (k, v) in extra {
                try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [k, v])
            }
            return seq
        } }
    }

    /// One row written; the statement is compiled once per connection (a batch writes thousands:
    /// compiled for each, the SQL parser was a third of the time a pull took to record a row).
    private func upsert(_ db: Database, _ e: FileEntry) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO files(path, kind, hash, size, mtime, ctime, inode, executable, target, deleted, version, sequence)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [e.path.rawValue, e.kind.rawValue, e.hash, e.size, e.mtimeNs, e.ctimeNs,
                             Int64(bitPattern: e.inode), e.executable, e.symlinkTarget, e.deleted,
                             e.version.description, e.sequence])
    }

    private static func entry(_ row: Row) throws -> FileEntry {
        // Columns by position (the table's order): name lookups cost more than the rest of the row.
        let p: String = row[0]
        guard let path = try? RelativePath(p), let kind = FileEntry.Kind(rawValue: row[1]) else {
            throw SyncError.corrupt(path: p, message: "bad index row")
        }
        return FileEntry(path: path, kind: kind, hash: row[2], size: row[3], mtimeNs: row[4],
                         ctimeNs: row[5], inode: UInt64(bitPattern: row[6] as Int64),
                         executable: row[7], symlinkTarget: row[8], deleted: row[9],
                         version: try VersionVector(parsing: row[10]), sequence: row[11])
    }
}
