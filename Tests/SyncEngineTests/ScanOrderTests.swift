import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

/// A full scan walks the folder in the index's own order and merges the two as they come; a
/// commit of more changes than a part records them in several whole commits.
@Suite struct ScanOrderTests {
    /// Names whose order differs between "sorted per directory" and "sorted as whole paths", and
    /// names that share their first eight bytes (the walk's sort key).
    static let tricky = ["a", "a-b", "a.txt", "a/b", "a/b0", "a/b/c", "a/b-", "ab", "a0", "é", "e", "Z", "a b",
                         "abcdefgh1", "abcdefgh/x", "abcdefgh-y", "abcdefg", "abcdefg/z", "abcdefg0", "abcdefgh"]

    /// Each name a file, but a name that others lie below ("a" of "a/b") is their directory.
    static func make(_ f: Fixture, _ names: [String]) throws {
        for n in names where !names.contains(where: { $0.hasPrefix(n + "/") }) { try f.write(n, n) }
    }

    @Test func theWalkComesInTheOrderOfTheIndexRows() throws {
        let f = try Fixture()
        try Self.make(f, Self.tricky)
        var walked: [RelativePath] = []
        let problems = try f.context.scanner().walkInPathOrder(temporary: { _, _ in }, unread: { _ in }) { walked.append($0.path) }
        #expect(problems.isEmpty)
        #expect(walked == walked.sorted(), "\(walked.map(\.rawValue))")
        #expect(Set(walked).count == walked.count)
        #expect(walked.map(\.rawValue).starts(with: ["Z", "a", "a b", "a-b", "a.txt", "a/b", "a/b-", "a/b/c", "a/b0", "a0"]))
        _ = try f.commit()
        var rows: [RelativePath] = []
        var pages = IndexPages(f.context.index, pageSize: 3)
        while let r = try pages.next() { rows.append(r.0) }
        #expect(rows == walked, "the index's rows, three at a time, in the walk's order")
    }

    @Test func workersAheadOfTheCallerWaitAndStopWithIt() throws {
        let f = try Fixture()
        for d in ["d1", "d2", "d3", "d4"] { for i in 0..<20 { try f.write("\(d)/s\(i % 3)/f\(i)", "x") } }
        try f.write("top", "t")
        let scanner = f.context.scanner()
        var one: [RelativePath] = [], two: [RelativePath] = []
        _ = try scanner.walkInPathOrder(threads: 1, temporary: { _, _ in }, unread: { _ in }) { one.append($0.path) }
        _ = try scanner.walkInPathOrder(threads: 3, ahead: 2, temporary: { _, _ in }, unread: { _ in }) { two.append($0.path) }
        #expect(one.count == 4 + 12 + 80 + 1)
        #expect(one == one.sorted())
        #expect(two == one, "three workers, each at most two ahead, give the same walk")
        // Many small top-level directories and a slow caller: the workers ahead stop at the bound
        // over all of them (each directory alone is below it).
        for d in 0..<12 { for i in 0..<3 { try f.write("m\(d)/f\(i)", "x") } }
        var most = 0, slow = 0
        _ = try scanner.walkInPathOrder(threads: 2, ahead: 4, peak: { most = $0 }, temporary: { _, _ in }, unread: { _ in }) { _ in
            slow += 1
            usleep(2_000)
        }
        #expect(slow == 4 + 12 + 80 + 1 + 12 * 4)
        #expect(most <= 4 + 4 + 4, "at most the bound, a chunk, and the directory being taken: \(most)")
        // A caller that stops in the middle leaves no worker behind (the walk returns).
        struct Enough: Error {}
        var seen = 0
        #expect(throws: Enough.self) {
            try scanner.walkInPathOrder(threads: 2, ahead: 1, temporary: { _, _ in }, unread: { _ in }) { _ in
                seen += 1
                if seen == 10 { throw Enough() }
            }
        }
    }

    @Test func observationsPackedReadBackAsTheyWere() throws {
        var list = ObservationList()
        var kept: [Observation] = []
        let long = String(repeating: "é", count: 100) + "/" + String(repeating: "n", count: 255)
        for i in 0..<30_000 {
            let path = try RelativePath(i == 7 ? long : "dir \(i % 97)/名前-\(i)/file\(i).txt")
            let o = Observation(path: path, kind: [.file, .symlink, .directory][i % 3], size: i == 3 ? Int64.max : Int64(i),
                                mtimeNs: i == 4 ? Int64.min : Int64(i) * 1_000_003, ctimeNs: -Int64(i),
                                inode: i == 5 ? UInt64.max : UInt64(i) << 33, executable: i % 2 == 0)
            list.append(o)
            kept.append(o)
        }
        #expect(list.count == kept.count)
        #expect(Array(list) == kept, "every field of every one, across chunks of 1 MiB")
    }

    @Test func theSortKeyOrdersAsBytes() {
        let names = ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefg", "é", "\u{7f}", "a b", "a-", "a0"]
        var keys: [(String, Bool)] = []
        for n in names { keys.append((n, false)); keys.append((n, true)) }
        for a in keys {
            for b in keys {
                let bytes = RelativePath.bytesPrecede(a.0 + (a.1 ? "/" : ""), b.0 + (b.1 ? "/" : ""))
                #expect(RelativePath.bytesPrecede(a.0, a.1, b.0, b.1) == bytes, "\(a) \(b)")
                let pa = Scanner.sortPrefix(a.0, slash: a.1), pb = Scanner.sortPrefix(b.0, slash: b.1)
                if pa != pb { #expect((pa < pb) == bytes, "\(a) \(b)") }
            }
        }
    }

    @Test func aRescanMergesTheWalkWithPagesOfRows() throws {
        let f = try Fixture()
        try Self.make(f, Self.tricky)
        _ = try f.commit()
        var c = Committer(f.context)
        c.pageSize = 2
        #expect(try c.commit() == nil, "nothing changed")
        try FileManager.default.removeItem(atPath: f.root + "/a-b")
        try FileManager.default.removeItem(atPath: f.root + "/abcdefg/z")
        try f.write("a/b/d", "new")
        try f.write("abcdefg1", "new")
        try f.write("Z", "changed")
        #expect(try f.lines(c.commit()) == ["A a/b/d", "A abcdefg1", "D a-b", "D abcdefg/z", "M Z"])
        #expect(try c.commit() == nil)
        #expect(try Committer(f.context).pending().isEmpty)
    }

    @Test func manyChangesAreRecordedInPartsEachAWholeCommit() throws {
        let f = try Fixture()
        for i in 0..<10 { try f.write(String(format: "f%02d", i), "\(i)") }
        var c = Committer(f.context)
        c.partSize = 4
        c.shownLimit = 6
        let r = try #require(try c.commit())
        #expect(f.lines(r).count == 6, "the first six kept for the report")
        #expect(r.changeCount == 10)
        c.shownLimit = 1000
        #expect(r.sequence == 10)
        #expect(try f.context.index.sequence() == 10)
        #expect(try HistoryQueries(f.context).log().count == 3, "10 changes in parts of 4")
        let head = try f.context.history.head()
        #expect(r.commit == head)
        for i in 0..<10 { #expect(try f.content(String(format: "f%02d", i)) == "\(i)") }

        // A part that cannot be recorded leaves the parts before it recorded, and the next commit
        // records the rest.
        for i in 0..<10 { try FileManager.default.removeItem(atPath: f.root + String(format: "/f%02d", i)) }
        for i in 0..<3 { try f.write(String(format: "g%02d", i), "\(i)") }
        struct Stop: Error {}
        nonisolated(unsafe) var parts = 0
        c.beforeRecord = { parts += 1; if parts == 2 { throw Stop() } }
        #expect(throws: Stop.self) { try c.commit() }
        #expect(try f.context.index.sequence() == 14, "the first part: three additions and a deletion")
        let rest = try #require(try Committer(f.context).commit())
        #expect(f.lines(rest) == (1..<10).map { String(format: "D f%02d", $0) })
        #expect(try f.context.index.sequence() == 23)
        #expect(try Committer(f.context).commit() == nil)
        #expect(try f.content("f00") == nil)
        #expect(try f.content("g02") == "2")
    }

    @Test func rowsBelowADirectoryThatCannotBeListedAreNotDeleted() throws {
        guard getuid() != 0 else { return } // root lists every directory
        let f = try Fixture()
        try f.write("locked/a", "kept")
        try f.write("ok", "fine")
        _ = try f.commit()
        chmod(f.root + "/locked", 0)
        try f.write("new", "n")
        let r = try #require(try f.commit())
        #expect(f.lines(r) == ["A new"], "nothing below the unreadable directory is taken for deleted")
        #expect(r.problems.map(\.path) == ["locked"])
        chmod(f.root + "/locked", 0o755)
        #expect(try Committer(f.context).commit() == nil)
    }
}
