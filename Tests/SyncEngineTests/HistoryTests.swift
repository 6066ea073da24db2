import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

@Suite struct HistoryTests {
    @Test func logFiltersByPathAndRestoreNeverDestroys() throws {
        let f = try Fixture()
        try f.write("a", "v1")
        try f.write("b", "other")
        let c1 = try #require(try f.commit()?.commit)
        try f.write("a", "v2")
        _ = try f.commit()
        try f.write("b", "other 2")
        _ = try f.commit()
        let q = HistoryQueries(f.context)
        #expect(try q.log(path: RelativePath("a")).count == 2)
        #expect(try q.log(path: RelativePath("b")).count == 2)
        #expect(try q.log(limit: 1).count == 1)

        try f.write("a", "v3, not yet committed")
        let r = try #require(try Restorer(f.context).restore(RelativePath("a"), at: c1))
        #expect(String(decoding: FileManager.default.contents(atPath: f.root + "/a")!, as: UTF8.self) == "v1")
        #expect(f.lines(r) == ["M a"])
        // The uncommitted v3 was committed first, so every version is in history.
        let versions = try q.log(path: RelativePath("a")).count
        #expect(versions == 4)
        #expect(try q.resolve("HEAD") == q.resolve("main"))
        #expect(try q.commit(atOrBefore: Date()) == q.resolve("HEAD"))
    }

    /// `sync diff 2 13`, `sync show 2:a` and `restore --at 2` take sequence numbers as `sync log`
    /// prints them.
    @Test func aSequenceNumberNamesTheCommitOfThatSequence() throws {
        let f = try Fixture()
        try f.write("a", "v1")
        let first = try #require(try f.commit())  // sequence 1
        try f.write("a", "v2")
        try f.write("b", "b")
        let second = try #require(try f.commit()) // sequences 2 and 3
        let q = HistoryQueries(f.context)
        #expect(try q.resolve("1") == first.commit)
        #expect(try q.resolve("2") == first.commit, "sequence 2 lies inside the commit that ends at 3: the one before it")
        #expect(try q.resolve("3") == second.commit)
        #expect(try q.resolve("999") == second.commit)
        #expect(throws: SyncError.self) { try q.resolve("0") }
        #expect(try q.resolve(String(second.commit!.hex.prefix(7))) == second.commit)
    }

    @Test func restoresADeletedDirectory() throws {
        let f = try Fixture()
        try f.write("d/x", "x")
        try f.write("d/y/z", "z")
        let c1 = try #require(try f.commit()?.commit)
        try FileManager.default.removeItem(atPath: f.root + "/d")
        _ = try f.commit()
        let r = try Restorer(f.context).restore(RelativePath("d"), at: c1)
        #expect(f.lines(r) == ["A d/x", "A d/y/z"])
        #expect(FileManager.default.contents(atPath: f.root + "/d/y/z") == Data("z".utf8))
    }

    @Test func restoresTheWholeFolderToAPointInTime() throws {
        let f = try Fixture()
        try f.write("keep.txt", "old\n")
        try f.write("d/gone-since.txt", "was here\n")
        try f.write(".syncignore", "*.tmp\n")
        let c1 = try #require(try f.commit()?.commit)
        try f.write("keep.txt", "new\n")
        try FileManager.default.removeItem(atPath: f.root + "/d/gone-since.txt")
        try f.write("made-since.txt", "new file\n")
        try f.write("n/e/w/deep.txt", "deep\n")
        try f.write("scratch.tmp", "ignored\n")
        _ = try f.commit()
        try f.write("unrecorded.txt", "saved, not yet committed\n")

        let r = try #require(try Restorer(f.context).restore(nil, at: c1))
        #expect(f.lines(r) == ["A d/gone-since.txt", "D made-since.txt", "D n/e/w/deep.txt", "D unrecorded.txt", "M keep.txt"])
        let names = try FileManager.default.subpathsOfDirectory(atPath: f.root).sorted()
        #expect(names == [".syncignore", "d", "d/gone-since.txt", "keep.txt", "scratch.tmp"], "ignored files stay")
        // What went is in history: the unrecorded file was committed before it was removed.
        let q = HistoryQueries(f.context)
        let before = try q.resolve("HEAD~1")
        #expect(try q.entry(before, path: RelativePath("unrecorded.txt")) != nil)
        // --keep-new keeps what was made since.
        try f.write("another.txt", "x\n")
        _ = try f.commit()
        _ = try Restorer(f.context).restore(nil, at: c1, keepNew: true)
        #expect(FileManager.default.fileExists(atPath: f.root + "/another.txt"))
    }
}
