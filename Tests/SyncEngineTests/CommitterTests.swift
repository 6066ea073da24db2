import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

@Suite struct CommitterTests {
    @Test func recordsCreateModifyDeleteAndRename() throws {
        let f = try Fixture()
        try f.write("a.txt", "one\n")
        try f.write("d/e/b.txt", "two\n")
        try f.write("empty", "")
        let r1 = try f.commit()
        #expect(f.lines(r1) == ["A a.txt", "A d/e/b.txt", "A empty"])
        #expect(r1?.sequence == 5, "three files and two directories")
        #expect(try f.content("d/e/b.txt") == "two\n")
        #expect(try f.tree("empty")?.id.hex == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
        #expect(try f.commit() == nil, "nothing changed, nothing committed")

        try f.write("a.txt", "one, longer\n")
        let r2 = try f.commit()
        #expect(f.lines(r2) == ["M a.txt"])
        let node = try f.state.identity().id
        #expect(try f.context.index.entry(RelativePath("a.txt"))?.version.counters[node.rawValue] == 2)
        #expect(try f.context.index.sequence() == 6)

        try FileManager.default.moveItem(atPath: f.root + "/d/e/b.txt", toPath: f.root + "/c.txt")
        #expect(try f.lines(f.commit()) == ["R d/e/b.txt -> c.txt"])
        #expect(try f.tree("d/e")?.mode == .directory, "the directory left empty by the move is kept")
        // The index keeps the deletion as a tombstone with a bumped version.
        let tomb = try #require(try f.context.index.entry(RelativePath("d/e/b.txt")))
        #expect(tomb.deleted)
        #expect(tomb.version.counters[node.rawValue] == 2)

        try FileManager.default.removeItem(atPath: f.root + "/a.txt")
        #expect(try f.lines(f.commit()) == ["D a.txt"])
        #expect(try f.content("a.txt") == nil)
        // The old versions are all still in history.
        #expect(try HistoryQueries(f.context).log().count == 4)
    }

    /// The history is opened when something is to be recorded: a scan that finds nothing does
    /// not depend on it (nor pay libgit2's start). One that finds a change and cannot open it
    /// (not a repository any more) moves it aside, whole, and records in a new one, which starts
    /// with the folder as the index has it: syncing never depends on the history.
    @Test func aScanThatFindsNothingLeavesTheHistoryUnopened() throws {
        let f = try Fixture()
        try f.writeSettled("a")
        _ = try f.commit()
        let head = f.context.folder.historyPath + "/HEAD"
        try FileManager.default.moveItem(atPath: head, toPath: head + ".away")
        let context = try FolderContext(f.context.folder, state: f.state)
        #expect(try Committer(context).commit() == nil)
        #expect(FileManager.default.fileExists(atPath: head + ".away"), "history touched by a scan that found nothing")
        try f.writeSettled("b")
        #expect(try f.lines(Committer(context).commit()) == ["A b"])
        let aside = try FileManager.default.contentsOfDirectory(atPath: f.context.folder.directory).filter { $0.hasPrefix("history.broken-") }
        #expect(aside.count == 1 && FileManager.default.fileExists(atPath: f.context.folder.directory + "/" + (aside.first ?? "") + "/HEAD.away"))
        let history = try context.history
        let newHead = try #require(try history.head())
        #expect(try history.entry(inCommit: newHead, path: "a") != nil && history.entry(inCommit: newHead, path: "b") != nil)
        #expect(try history.commit(newHead).parents.count == 1, "the folder as it was, then the change")
    }

    @Test func keepsTheExecutableBitAndNothingElseOfTheMode() throws {
        let f = try Fixture()
        try f.write("run.sh", "#!/bin/sh\n")
        chmod(f.root + "/run.sh", 0o644)
        _ = try f.commit()
        chmod(f.root + "/run.sh", 0o755)
        #expect(try f.lines(f.commit()) == ["M run.sh"])
        #expect(try f.tree("run.sh")?.mode == .executable)
        chmod(f.root + "/run.sh", 0o775) // group write: not tracked
        #expect(try f.commit() == nil)
        chmod(f.root + "/run.sh", 0o600)
        #expect(try f.lines(f.commit()) == ["M run.sh"])
        #expect(try f.tree("run.sh")?.mode == .file)
    }

    @Test func recordsSymlinksAsLinksAndEmptyDirectories() throws {
        let f = try Fixture()
        let outside = f.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/s"))
        symlink(outside, f.root + "/out")         // a link to a directory outside: never followed
        symlink("missing", f.root + "/dangling")  // a dangling link is still a link
        try FileManager.default.createDirectory(atPath: f.root + "/empty/inner", withIntermediateDirectories: true)
        let l0 = try f.lines(f.commit()); #expect(l0 == ["A dangling", "A empty/inner", "A out"])
        #expect(try f.tree("out")?.mode == .symlink)
        #expect(try f.content("out") == outside)
        #expect(try f.tree("out/s") == nil)
        #expect(try f.tree("empty/inner")?.mode == .directory)
        // A file appears in the empty directory: the directory is no longer recorded by itself.
        try f.write("empty/inner/x", "x")
        #expect(try f.lines(f.commit()) == ["A empty/inner/x"])
        // A link retargeted is a modification.
        unlink(f.root + "/dangling"); symlink("elsewhere", f.root + "/dangling")
        #expect(try f.lines(f.commit()) == ["M dangling"])
        #expect(try f.content("dangling") == "elsewhere")
    }

    @Test func aFileBecomesADirectoryAndBack() throws {
        let f = try Fixture()
        try f.write("x", "file")
        _ = try f.commit()
        unlink(f.root + "/x")
        try f.write("x/inner", "now a directory")
        let l1 = try f.lines(f.commit()); #expect(l1 == ["A x/inner", "D x"])
        try FileManager.default.removeItem(atPath: f.root + "/x")
        try f.write("x", "a file again")
        let l2 = try f.lines(f.commit()); #expect(l2 == ["A x", "D x/inner"])
        #expect(try f.content("x") == "a file again")
    }

    @Test func honoursIgnorePatternsFromConfigAndSyncignore() throws {
        let f = try Fixture()
        var folder = f.context.folder
        try folder.config.add("ignore", "*.tmp")
        try folder.saveConfig()
        let context = try FolderContext(try f.state.folder(folder.id.rawValue), state: f.state)
        try f.write(".syncignore", "build/\n!keep.tmp\n")
        try f.write("a.tmp", "x")
        try f.write("keep.tmp", "x")
        try f.write("build/out.o", "x")
        try f.write("src/build/y.o", "x")
        try f.write("src/main.c", "x")
        try f.write(".sync-tmp-123", "half written")
        let r = try Committer(context).commit()
        #expect(f.lines(r) == ["A .syncignore", "A keep.tmp", "A src/main.c"])
    }

    @Test func neverRecordsTheStateDirectoryInsideTheFolder() throws {
        // A folder around the state directory (here: the state directory is base/state, folder is base).
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-engine-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let state = StateDirectory(root: base + "/.state")
        _ = try state.identity()
        try Data("x".utf8).write(to: URL(fileURLWithPath: base + "/a"))
        let folder = try Registry.initFolder(at: base, state: state)
        let r = try Committer(try FolderContext(folder, state: state)).commit()
        #expect(r?.changes.map(\.path) == ["a"])
    }

    @Test func reportsAnUnreadableFileAndCommitsTheRest() throws {
        guard getuid() != 0 else { return } // root reads everything; the end-to-end test covers root
        let f = try Fixture()
        try f.write("ok", "fine")
        try f.write("locked/no", "private")
        chmod(f.root + "/locked/no", 0)
        let r = try #require(try f.commit())
        #expect(f.lines(r) == ["A ok"])
        #expect(r.problems.map(\.path) == ["locked/no"])
        chmod(f.root + "/locked/no", 0o644)
        #expect(try f.lines(f.commit()) == ["A locked/no"])
    }

    @Test func leavesAFileThatChangesWhileHashedForTheNextRound() throws {
        let f = try Fixture()
        try f.write("a", "first")
        try f.write("b", "steady")
        var c = Committer(f.context)
        var changedOnce = false
        c.afterHash = { path in
            guard path.rawValue == "a", !changedOnce else { return }
            changedOnce = true
            try? Data("second, longer".utf8).write(to: URL(fileURLWithPath: f.root + "/a"))
        }
        let r = try #require(try c.commit())
        #expect(f.lines(r) == ["A b"])
        #expect(r.retry.map(\.rawValue) == ["a"])
        #expect(try f.lines(f.commit()) == ["A a"])
        #expect(try f.content("a") == "second, longer")
    }

    /// A link and a file recorded within two seconds of their making are not pending afterwards
    /// (their rows keep no ctime, so their target or content decides); a link changed to another
    /// target of the same length in that second is.
    @Test func freshlyRecordedLinksAreNotPendingUnlessTheirTargetChanged() throws {
        let f = try Fixture()
        try f.write("a", "1")
        try FileManager.default.createSymbolicLink(atPath: f.root + "/l", withDestinationPath: "a")
        _ = try f.commit()
        #expect(try f.context.index.entry(RelativePath("l"))?.ctimeNs == 0)
        #expect(try Committer(f.context).pending().isEmpty)
        // Same length, same second: only the target tells.
        let before = try #require(try f.context.index.entry(RelativePath("l")))
        try FileManager.default.removeItem(atPath: f.root + "/l")
        try FileManager.default.createSymbolicLink(atPath: f.root + "/l", withDestinationPath: "b")
        var times = [timespec(tv_sec: Int(before.mtimeNs / 1_000_000_000), tv_nsec: Int(before.mtimeNs % 1_000_000_000)),
                     timespec(tv_sec: Int(before.mtimeNs / 1_000_000_000), tv_nsec: Int(before.mtimeNs % 1_000_000_000))]
        _ = utimensat(AT_FDCWD, f.root + "/l", &times, AT_SYMLINK_NOFOLLOW)
        #expect(try Committer(f.context).pending().map(\.rawValue) == ["l"])
    }

    @Test func commitsOnlyTheNamedPaths() throws {
        let f = try Fixture()
        try f.write("a", "1")
        try f.write("d/b", "2")
        try f.write("d/c", "3")
        #expect(try f.lines(f.commit(["d"])) == ["A d/b", "A d/c"])
        let pending = try Committer(f.context).pending().map(\.rawValue)
        #expect(pending == ["a"])
        #expect(try f.lines(f.commit(["a", "nothing"])) == ["A a"])
    }

    @Test func storesFilesOverTheBlobLimitAsPointers() throws {
        let f = try Fixture()
        let context = try f.context(setting: "history.max-blob", to: "10")
        try f.write("big", "more than ten bytes")
        _ = try Committer(context).commit()
        let head = try #require(try context.history.head())
        let e = try #require(try context.history.entry(inCommit: head, path: "big"))
        let pointer = try #require(LargeFilePointer(try context.history.blob(e.id)))
        #expect(pointer.size == 19)
        #expect(try context.index.entry(RelativePath("big"))?.hash == pointer.id)
    }

    /// A file moved in the folder (same inode, size and time) is recorded with the content id of
    /// its old row, without being read again; a new file of the same size is read.
    @Test func aMovedFileIsNotHashedAgain() throws {
        let f = try Fixture()
        let context = try f.context(setting: "history.max-blob", to: "10")
        try f.write("d/big", "more than ten bytes")
        try f.write("small", "tiny")
        var hashed: [String] = []
        var committer = Committer(context)
        committer.afterHash = { hashed.append($0.rawValue) }
        _ = try committer.commit()
        #expect(hashed.sorted() == ["d/big", "small"])
        let id = try #require(try context.index.entry(RelativePath("d/big"))?.hash)

        hashed = []
        try FileManager.default.moveItem(atPath: f.root + "/d/big", toPath: f.root + "/moved")
        try FileManager.default.moveItem(atPath: f.root + "/small", toPath: f.root + "/d/small")
        try f.write("other", "more than ten bytes")
        var again = Committer(context)
        again.afterHash = { hashed.append($0.rawValue) }
        let r = try #require(try again.commit())
        // Shown as renames: a deletion and an addition of the same content, one to one.
        #expect(r.changes.map(\.line).sorted() == ["A other", "R d/big -> moved", "R small -> d/small"])
        #expect(hashed == ["other"], "hashed: \(hashed)")
        // So the history's commit says, and sync log reads it back.
        let logged = try HistoryQueries(context).log(limit: 1)
        #expect(logged.first?.changes.map(\.line).sorted() == ["A other", "R d/big -> moved", "R small -> d/small"])
        #expect(try HistoryQueries(context).log(path: RelativePath("d/big")).first?.changes.map(\.line) == ["R d/big -> moved"])
        #expect(try context.index.entry(RelativePath("moved"))?.hash == id)
        #expect(try context.index.entry(RelativePath("other"))?.hash == id)
    }

    /// Many small files make one pack, not a loose object each; a commit of a few stays loose.
    /// Either way every blob reads back and git finds the history whole.
    @Test func manySmallFilesGoIntoOnePackAFewStayLoose() throws {
        let f = try Fixture()
        let objects = try f.context.history.path + "/objects"
        func packs() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: objects + "/pack").filter { $0.hasSuffix(".pack") }.count }
        func loose() throws -> Int { Int(try shell("find '\(objects)' -path '*/objects/??/*' -type f | wc -l").output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        for i in 0..<300 { try f.write("d\(i % 7)/f\(i).txt", "file \(i)\n" + String(repeating: "x", count: i)) }
        try f.write("d0/same.txt", "file 0\n") // the content of another file: one blob
        let r = try #require(try f.commit())
        #expect(r.changes.count == 301)
        #expect(try packs() == 1)
        // The trees (8) and the commit are loose; the 300 blobs are not.
        let looseCount = try loose()
        #expect(looseCount <= 10, "\(looseCount) loose objects")
        #expect(try f.content("d5/f299.txt") == "file 299\n" + String(repeating: "x", count: 299))
        #expect(try f.content("d0/same.txt") == "file 0\n")

        for i in 0..<3 { try f.write("d1/new\(i).txt", "new \(i)\n") }
        _ = try f.commit()
        #expect(try packs() == 1, "a commit of three files made a pack")
        #expect(try f.content("d1/new2.txt") == "new 2\n")
        let fsck = try shell("git --git-dir='\(f.context.history.path)' fsck --full --strict --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
    }
}

extension CommitterTests {
    /// A rename's line reads back as it was written, whatever the names hold (` -> ` included).
    @Test func aRenameLineReadsBackOneWayOnly() throws {
        for (old, new) in [("a", "b"), ("x -> y", "z"), ("p", "q -> r"), ("with \"quote\"", "tab\there"), (" lead", "a -> b -> c")] {
            let c = Change(renamed: old, to: new)
            let back = try #require(Change(line: Substring(c.line)), "\(c.line)")
            #expect(back == c, "\(c.line)")
        }
        #expect(Change(line: "R a") == nil)
        #expect(Change(line: "R \"a -> b") == nil)
        #expect(Change(line: "D x -> y")?.path == "x -> y")
    }
}
