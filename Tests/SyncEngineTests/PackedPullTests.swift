import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
import SyncTestSupport
@testable import SyncEngine

/// A pull of many small files stores their blobs in one pack per batch on the pulling node, and
/// its history stays whole (every version reads back, git fsck is clean). Batches of 100: the
/// socket pair of the harness holds the requests of a window that size (over SSH, libssh2 takes
/// in what comes while it writes, and larger windows are fine).
@Suite struct PackedPullTests {
    @Test func manySmallFilesPulledMakeAPackNotLooseObjects() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-packed-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        for i in 0..<500 {
            let dir = a.root + "/d\(i % 10)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data("file \(i)\n".utf8).write(to: URL(fileURLWithPath: dir + "/f\(i)"))
        }
        _ = try Committer(a.context).commit(paths: nil)
        let outcome = try PullerPropertyTests.pull(b, from: a, prepare: { $0.batchSize = 100 })
        #expect(!outcome.held)
        let objects = try b.context.history.path + "/objects"
        let packs = try FileManager.default.contentsOfDirectory(atPath: objects + "/pack").filter { $0.hasSuffix(".pack") }
        #expect(packs.count == 6, "one pack a batch, and the fetch of A's authored history: \(packs)")
        // 510 rows (10 directories) in batches of 100: five packs; the last batch's 10 blobs are
        // too few for a pack and stay loose, as a commit of a few edits does. A's authored commit
        // then comes as a pack of its own (its tree and blobs are here already).
        let loose = try shell("""
            cd '\(b.context.history.path)' && find objects -path 'objects/??/*' -type f | sed 's|objects/||; s|/||' \
              | git cat-file --batch-check | grep -c ' blob ' || true
            """).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(loose == "10", "\(loose) loose blobs")
        let head = try #require(try b.context.history.head())
        let e = try #require(try b.context.history.entry(inCommit: head, path: "d7/f497"))
        #expect(try b.context.history.blob(e.id) == Array("file 497\n".utf8))
        let fsck = try shell("git --git-dir='\(b.context.history.path)' fsck --full --strict --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
    }

    /// The next window is asked for while the rows before it are applied, and any other request
    /// (a file above the fetch-ahead size, a delta) first reads what was asked ahead, since answers
    /// come in order: windows of 4 among files that come whole or as deltas keep the link in step
    /// and bring everything. Without `RemoteFolder.beforeRequest` the first big file reads the
    /// window's answer as its own, and the link falls out of step (here the pull never ends: checked).
    @Test func windowsAskedAheadLeaveTheLinkInStep() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-ahead-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        var rng = SplitMix(41)
        var expected: [String: [UInt8]] = [:]
        for i in 0..<40 {
            // Every seventh file is above the fetch-ahead size (1 MiB): it comes on its own.
            let size = i % 7 == 3 ? Int(Puller.stageMaxSize) + 4096 : 100 + i
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            expected["f\(String(format: "%02d", i))"] = bytes
            try Data(bytes).write(to: URL(fileURLWithPath: a.root + "/f\(String(format: "%02d", i))"))
        }
        _ = try Committer(a.context).commit(paths: nil)
        var pullers: [Puller] = []
        let outcome = try PullerPropertyTests.pull(b, from: a, prepare: { $0.windowFiles = 4; $0.batchSize = 100; pullers.append($0) })
        #expect(!outcome.held && outcome.problems.isEmpty, "\(outcome.problems)")
        for (name, bytes) in expected { #expect(FileManager.default.contents(atPath: b.root + "/" + name) == Data(bytes), "\(name)") }
        #expect(pullers.allSatisfy { $0.ahead == nil })
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: b.root)).contains { $0.hasPrefix(Scanner.temporaryPrefix) })
    }

    /// A file above the fetch-ahead size that comes whole has its history blob written as its
    /// bytes come (`HistoryTee`): it is in history the moment the file is placed, before the blob
    /// writer could have read it. Content zlib can shrink is left to the blob writer (compressed),
    /// and history stays whole. Without the tee no blob is there at that moment (checked).
    @Test func bigFilesComeIntoHistoryAsTheyArrive() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-tee-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        var rng = SplitMix(7)
        func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        // One request, several ranges (above `rangeSize`), and text.
        let files: [String: [UInt8]] = [
            "one": random(Int(Puller.stageMaxSize) + 4097),
            "ranges": random(Int(Puller.rangeSize) + 12345),
            "text": Array(String(repeating: "a line of text that repeats\n", count: 80_000).utf8),
        ]
        for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: a.root + "/" + name)) }
        _ = try Committer(a.context).commit(paths: nil)
        var atPlace: [String: Bool] = [:]
        let outcome = try PullerPropertyTests.pull(b, from: a, prepare: { p in
            p.afterPlace = { path in atPlace[path.rawValue] = (try? b.context.history)?.contains(HistoryRepository.hash(files[path.rawValue]!)) }
        })
        #expect(!outcome.held && outcome.problems.isEmpty, "\(outcome.problems)")
        #expect(atPlace == ["one": true, "ranges": true, "text": false])
        // Made durable as they were stored, and then out of the page cache but for the few pages
        // libgit2 reads for an object's header (without the drop, all of their pages were there).
        for name in ["one", "ranges"] {
            let hex = HistoryRepository.hash(files[name]!).hex
            let n = try residentPages(b.context.history.path + "/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2)); #expect(n <= 8, "\(name): \(n) pages")
        }
        let head = try #require(try b.context.history.head())
        for (name, bytes) in files {
            let e = try #require(try b.context.history.entry(inCommit: head, path: name))
            #expect(e.id == HistoryRepository.hash(bytes))
            #expect(try b.context.history.blob(e.id) == bytes, "\(name)")
        }
        let objects = try b.context.history.path + "/objects"
        let text = HistoryRepository.hash(files["text"]!).hex
        let size = (try FileManager.default.attributesOfItem(atPath: objects + "/" + text.prefix(2) + "/" + text.dropFirst(2))[.size] as? Int) ?? 0
        #expect(size > 0 && size < files["text"]!.count / 10, "the text blob takes \(size) bytes")
        #expect(try FileManager.default.contentsOfDirectory(atPath: objects).filter { $0.hasPrefix("tmp_") }.isEmpty)
        let fsck = try shell("git --git-dir='\(b.context.history.path)' fsck --full --strict --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
    }

    /// A small file fetched ahead goes into history from the bytes that were verified, not read
    /// back from the folder: a write here right after it is placed does not become the peer's
    /// version in history (the file is then a local change for the next scan). Read back, history
    /// held the local write under the peer's path (checked).
    @Test func aFileFetchedAheadGoesIntoHistoryAsItCame() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-kept-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        var files: [String: [UInt8]] = [:]
        for i in 0..<20 {
            // Up to the size kept in memory, and past it (read back from the file).
            let size = i == 19 ? Int(Puller.keptInMemory) + 1 : 10 + i * 100
            files["f\(i)"] = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            try Data(files["f\(i)"]!).write(to: URL(fileURLWithPath: a.root + "/f\(i)"))
        }
        _ = try Committer(a.context).commit(paths: nil)
        let outcome = try PullerPropertyTests.pull(b, from: a, prepare: { p in
            p.batchSize = 100
            // Overwritten in place right after the rename, before the blob writer gets to it.
            p.afterPlace = { path in
                guard path.rawValue != "f19" else { return }
                _ = try? Data(repeating: 0x5a, count: files[path.rawValue]!.count).write(to: URL(fileURLWithPath: b.root + "/" + path.rawValue))
            }
        })
        #expect(!outcome.held && outcome.problems.isEmpty, "\(outcome.problems)")
        let head = try #require(try b.context.history.head())
        for (name, bytes) in files {
            let e = try #require(try b.context.history.entry(inCommit: head, path: name))
            #expect(e.id == HistoryRepository.hash(bytes), "\(name)")
            #expect(try b.context.history.blob(e.id) == bytes, "\(name)")
        }
        let fsck = try shell("git --git-dir='\(b.context.history.path)' fsck --full --strict --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
    }

    /// A temporary of a window that cannot be made here (its name is taken by a directory): the
    /// requests went out before the temporaries were made, so its answer is read and dropped, the
    /// link stays in step, the other files of the window land, and that one is held with a reason.
    @Test func aTemporaryThatCannotBeMadeLeavesTheLinkInStep() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-notmp-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        for i in 0..<30 { try Data("small \(i)\n".utf8).write(to: URL(fileURLWithPath: a.root + "/f\(String(format: "%02d", i))")) }
        _ = try Committer(a.context).commit(paths: nil)
        let blocked = HistoryRepository.hash(Array("small 7\n".utf8)).hex
        try FileManager.default.createDirectory(atPath: b.root + "/" + Scanner.temporaryPrefix + blocked, withIntermediateDirectories: false)
        let outcome = try PullerPropertyTests.pull(b, from: a, prepare: { $0.batchSize = 100; $0.windowFiles = 8 })
        #expect(outcome.held)
        #expect(outcome.problems.map(\.path) == ["f07"], "\(outcome.problems)")
        for i in 0..<30 where i != 7 {
            let name = "f\(String(format: "%02d", i))"
            #expect(FileManager.default.contents(atPath: b.root + "/" + name) == Data("small \(i)\n".utf8), "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: b.root + "/f07"))
        // The link is in step: once the name is free, the next pull brings it.
        try FileManager.default.removeItem(atPath: b.root + "/" + Scanner.temporaryPrefix + blocked)
        let again = try PullerPropertyTests.pull(b, from: a)
        #expect(!again.held && again.problems.isEmpty, "\(again.problems)")
        #expect(FileManager.default.contents(atPath: b.root + "/f07") == Data("small 7\n".utf8))
    }

    /// At its end a pull drops the temporaries noted in `transfers` that are still there, but does
    /// not look again for those it renamed into place itself (an unlink that fails, per file of
    /// the pull); one noted again after that is a new transfer, and is dropped.
    @Test func aPullDropsTheTemporariesLeftAndSkipsThoseItPlaced() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-drop-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (_, b) = try PullerPropertyTests.Node.pair(base)
        let session = Session(link: Link(GatherTests.Recorder()), identity: b.identity, dialing: true)
        let puller = Puller(context: b.context, remote: RemoteFolder(session: session, folder: b.context.folder.id.rawValue), peer: b.identity.id)
        let names = ["1", "2", "3"].map { Scanner.temporaryPrefix + String(repeating: $0, count: 40) }
        let temps = try names.map { try RelativePath($0) }
        puller.noteTransfers(temps)
        for n in names { try Data("x".utf8).write(to: URL(fileURLWithPath: b.root + "/" + n)) }
        // The first was placed (its name here now is not this pull's); the second placed and then
        // made again for a later transfer; the third left.
        puller.transferRenamed(temps[0])
        puller.transferRenamed(temps[1])
        puller.noteTransfer(temps[1])
        try puller.dropTransfers()
        #expect(FileManager.default.fileExists(atPath: b.root + "/" + names[0]))
        #expect(!FileManager.default.fileExists(atPath: b.root + "/" + names[1]))
        #expect(!FileManager.default.fileExists(atPath: b.root + "/" + names[2]))
        #expect((try? Data(contentsOf: URL(fileURLWithPath: puller.transfersPath)))?.isEmpty == true)
        // Past the bound of what it keeps in memory, a placed one is looked for as before.
        puller.renamedTransfersKept = 1
        puller.noteTransfers([temps[1], temps[2]])
        for n in names.dropFirst() { try Data("x".utf8).write(to: URL(fileURLWithPath: b.root + "/" + n)) }
        puller.transferRenamed(temps[1])
        puller.transferRenamed(temps[2])
        #expect(puller.renamedTransfers.count == 1)
        try puller.dropTransfers()
        #expect(FileManager.default.fileExists(atPath: b.root + "/" + names[1]))
        #expect(!FileManager.default.fileExists(atPath: b.root + "/" + names[2]))
    }

    /// How many pages of the file at `path` are in the page cache.
    func residentPages(_ path: String) throws -> Int {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { return 0 }
        let size = Int(st.st_size)
        let map = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(map, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = [UInt8](repeating: 0, count: (size + page - 1) / page)
        guard mincore(map, size, &resident) == 0 else { return -1 }
        return resident.filter { $0 & 1 == 1 }.count
    }
}
