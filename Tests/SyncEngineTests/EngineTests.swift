import Foundation
import Testing
import SyncCore
import SyncGit
@testable import SyncEngine

/// A node with one registered folder in a fresh temporary directory.
final class Fixture {
    let base: String
    let state: StateDirectory
    let root: String
    let context: FolderContext

    init(folderInside: String = "f") throws {
        base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-engine-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base + "/" + folderInside, withIntermediateDirectories: true)
        state = StateDirectory(root: base + "/state")
        root = base + "/" + folderInside
        let folder = try Registry.initFolder(at: root, state: state)
        context = try FolderContext(folder, state: state)
    }

    deinit {
        _ = try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/locked")
        try? FileManager.default.removeItem(atPath: base)
    }

    func write(_ path: String, _ text: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    func commit(_ paths: [String]? = nil) throws -> CommitResult? {
        try Committer(context).commit(paths: paths.map { try $0.map { try RelativePath($0) } })
    }

    /// What a commit changed, as `A path` lines, sorted.
    func lines(_ r: CommitResult?) -> [String] { (r?.changes ?? []).map { "\($0.status.rawValue) \($0.path)" }.sorted() }

    func tree(_ path: String) throws -> (id: ObjectID, mode: HistoryRepository.Mode?)? {
        guard let head = try context.history.head() else { return nil }
        return try context.history.entry(inCommit: head, path: path)
    }

    func content(_ path: String) throws -> String? {
        guard let e = try tree(path) else { return nil }
        return String(decoding: try context.history.blob(e.id), as: UTF8.self)
    }
}

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
        #expect(try f.lines(f.commit()) == ["A c.txt", "D d/e/b.txt"])
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
        var folder = f.context.folder
        try folder.config.set("history.max-blob", "10")
        try folder.saveConfig()
        let context = try FolderContext(try f.state.folder(folder.id.rawValue), state: f.state)
        try f.write("big", "more than ten bytes")
        _ = try Committer(context).commit()
        let head = try #require(try context.history.head())
        let e = try #require(try context.history.entry(inCommit: head, path: "big"))
        let pointer = try #require(LargeFilePointer(try context.history.blob(e.id)))
        #expect(pointer.size == 19)
        #expect(try context.index.entry(RelativePath("big"))?.hash == pointer.id)
    }
}

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

@Suite struct RegistryTests {
    @Test func refusesBadFoldersAndWritesNothing() throws {
        let f = try Fixture()
        let before = try FileManager.default.contentsOfDirectory(atPath: f.state.foldersPath)
        try Data().write(to: URL(fileURLWithPath: f.base + "/plain"))
        try FileManager.default.createDirectory(atPath: f.root + "/inner", withIntermediateDirectories: true)
        let bad = [f.base + "/missing", f.base + "/plain", f.root, f.root + "/inner", f.base,
                   f.state.root, f.state.foldersPath]
        for path in bad {
            #expect(throws: SyncError.self, "\(path)") { try Registry.initFolder(at: path, state: f.state) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.state.foldersPath) == before)
    }

    @Test func findsFoldersByIdPathAndName() throws {
        let f = try Fixture()
        let id = f.context.folder.id.rawValue
        #expect(try f.state.folder(id).id.rawValue == id)
        #expect(try f.state.folder(f.root).id.rawValue == id)
        #expect(try f.state.folder("f").id.rawValue == id)
        #expect(throws: SyncError.self) { try f.state.folder("nope") }
    }
}

@Suite struct DebounceTests {
    @Test func waitsForQuietButNotLongerThanTheMaximum() {
        let d = Debounce(quiet: 0.2, maxDelay: 2)
        #expect(d.deadline(first: 0, last: 0) == 0.2)
        #expect(d.deadline(first: 0, last: 1) == 1.2)
        #expect(d.deadline(first: 0, last: 1.9) == 2)
        #expect(d.deadline(first: 0, last: 5) == 2)
        #expect(Debounce(quiet: 3, maxDelay: 1).deadline(first: 0, last: 0) == 3)
    }
}

@Suite struct WatchEventTests {
    @Test func linesRoundTripAndOddNamesStayOnOneLine() throws {
        let odd = try RelativePath("dir/with\nnewline\tand tab é")
        let line = WatchEvent.change(odd).line
        #expect(!line.contains("\n"))
        #expect(WatchEvent(line: Substring(line)) == .change(odd))
        #expect(WatchEvent(line: "rescan") == .rescan)
        #expect(WatchEvent(line: "change ../etc") == nil)
    }
}
