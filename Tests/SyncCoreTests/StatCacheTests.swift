import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport

@Suite struct StatCacheTests {
    /// Rows at the ends of every range: names of one byte and of 4096, not ASCII, every kind and
    /// flag, integers at both ends.
    static func rows() throws -> [(RelativePath, IndexStat)] {
        let kinds: [FileEntry.Kind] = [.file, .symlink, .directory]
        var names = ["a", "a b", "a-b", "a/b", "é/ü", "z", String(repeating: "x", count: 255) + "/" + String(repeating: "y", count: 255)]
        names.append((0..<16).map { _ in String(repeating: "p", count: 255) }.joined(separator: "/"))
        // 4,096 bytes: 15 components of 255 and two more, 16 slashes.
        names.append(((0..<15).map { _ in String(repeating: "q", count: 255) } + [String(repeating: "r", count: 128), String(repeating: "s", count: 127)])
            .joined(separator: "/"))
        names.sort { RelativePath.bytesPrecede($0, $1) }
        let extremes: [Int64] = [0, 1, -1, .max, .min]
        return try names.enumerated().map { i, n in
            let e = extremes[i % extremes.count]
            return (try RelativePath(n), IndexStat(kind: kinds[i % 3], size: e, mtimeNs: extremes[(i + 1) % 5],
                                                   ctimeNs: extremes[(i + 2) % 5], inode: i % 2 == 0 ? .max : UInt64(i),
                                                   executable: i % 2 == 0, deleted: i % 3 == 1))
        }
    }

    static func write(_ rows: [(RelativePath, IndexStat)], to path: String, stamp: String) throws {
        let w = try #require(StatCache.Writer(path, temporary: path + ".tmp", stamp: stamp))
        for (p, s) in rows { w.add(p, s) }
        #expect(w.finish())
    }

    static func readAll(_ path: String, stamp: String) throws -> [(RelativePath, IndexStat)]? {
        guard let r = StatCache.open(path, stamp: stamp) else { return nil }
        var out: [(RelativePath, IndexStat)] = []
        while try r.advance() { out.append((try r.rowPath(), r.rowStat)) }
        return out
    }

    @Test func aCopyReadsBackAsWritten() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/stat-cache"
        let rows = try Self.rows()
        #expect(rows.contains { $0.0.rawValue.utf8.count == 4096 })
        try Self.write(rows, to: path, stamp: "s1")
        let back = try #require(try Self.readAll(path, stamp: "s1"))
        #expect(back.map(\.0) == rows.map(\.0))
        #expect(back.map(\.1) == rows.map(\.1))
        #expect(try Self.readAll(path, stamp: "s2") == nil, "taken from another state of the index")
        #expect(try Self.readAll(dir.path + "/none", stamp: "s1") == nil)
        // No rows, and more rows than one read takes (1 MiB).
        try Self.write([], to: path, stamp: "")
        #expect(try Self.readAll(path, stamp: "")?.isEmpty == true)
        let many = try (0..<40_000).map { i in
            (try RelativePath(String(format: "dir%03d/file%06d", i / 1000, i)),
             IndexStat(kind: .file, size: Int64(i), mtimeNs: Int64(i) * 7, ctimeNs: 3, inode: UInt64(i), executable: false, deleted: false))
        }
        try Self.write(many, to: path, stamp: "many")
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) > 1 << 20)
        let manyBack = try #require(try Self.readAll(path, stamp: "many"))
        #expect(manyBack.map(\.0) == many.map(\.0) && manyBack.map(\.1) == many.map(\.1))
    }

    /// A byte changed, anywhere, and a cut: the copy is refused at its opening or the reader throws
    /// before it says the rows ended; never all rows given as if whole. Seeded.
    @Test func aDamagedCopyIsNeverTakenWhole() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/stat-cache"
        try Self.write(try Self.rows(), to: path, stamp: "stamp")
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var rng = SplitMix(16)
        // Every byte of the header and the trailer, and 400 of the rows (debug builds are slow).
        let positions = Array(0..<64) + Array((good.count - 16)..<good.count) + (0..<400).map { _ in Int(rng.next() % UInt64(good.count)) }
        var cases: [Data] = positions.map { i in
            var d = good
            d[i] ^= UInt8(1 + rng.next() % 255)
            return d
        }
        cases += [0, 1, 8, good.count / 2, good.count - 12, good.count - 1].map { good.prefix($0) }
        var refused = 0, thrown = 0
        for d in cases {
            try d.write(to: URL(fileURLWithPath: path))
            guard let r = StatCache.open(path, stamp: "stamp") else { refused += 1; continue }
            do {
                while try r.advance() { _ = try r.rowPath() }
                Issue.record("a damaged copy was read to its end")
            } catch is StatCache.Damaged {
                thrown += 1
            }
        }
        #expect(refused + thrown == cases.count)
        #expect(refused > 0 && thrown > 0)
    }

    /// A copy not finished leaves nothing.
    @Test func anUnfinishedCopyLeavesNothing() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/stat-cache"
        do {
            let w = try #require(StatCache.Writer(path, temporary: path + ".tmp", stamp: "x"))
            w.add(try RelativePath("a"), IndexStat(kind: .file, size: 1, mtimeNs: 1, ctimeNs: 1, inode: 1, executable: false, deleted: false))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        #expect(StatCache.Writer(path, temporary: dir.path + "/missing/tmp", stamp: "x") == nil)
    }

    /// Every write to the rows makes a new stamp; reads and other bookkeeping do not.
    @Test func theIndexStampChangesWithEveryWriteToItsRows() throws {
        let dir = try TemporaryDirectory()
        let index = try FolderIndex(path: dir.path + "/index.db")
        let node = try NodeID(String(repeating: "c", count: 52))
        let first = try index.rowsStamp()
        #expect(!first.isEmpty)
        #expect(try FolderIndex(path: dir.path + "/index.db").rowsStamp() == first, "opening again keeps it")
        var a = FileEntry(path: try RelativePath("a"), kind: .file, hash: String(repeating: "0", count: 40), size: 3,
                          version: VersionVector().bumped(by: node))
        try index.record(changes: [a], commit: nil)
        let second = try index.rowsStamp()
        #expect(second != first)
        try index.record(changes: [], refreshed: [a], commit: nil)
        let third = try index.rowsStamp()
        #expect(third != second, "a refresh of stat data is a write too")
        try index.setMeta("peer.x.sequence", "4")
        _ = try index.entry(RelativePath("a"))
        _ = try index.stats(after: nil, limit: 10)
        #expect(try index.rowsStamp() == third)
        a.deleted = true
        try index.record(changes: [a], commit: nil)
        let fourth = try index.rowsStamp()
        try index.removeTombstones([RelativePath("a")])
        #expect(try index.rowsStamp() != fourth)
    }
}
