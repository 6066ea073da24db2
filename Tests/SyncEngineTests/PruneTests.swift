import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

/// A folder whose history holds `count` commits made over about a year and a half: each edits one
/// of 40 files (or deletes and brings one back now and then), with irregular gaps, some dense
/// (seconds apart) and some sparse (days apart). The test keeps its own record of every snapshot:
/// the independent account that the pruned history is checked against.
final class FabricatedHistory {
    let fixture: Fixture
    /// Oldest first: time, tree and each file's content in that snapshot.
    var snapshots: [(time: Date, tree: ObjectID, files: [String: String])] = []
    let now: Date

    init(count: Int = 1000, seed: UInt64 = 7) throws {
        fixture = try Fixture()
        let h = try fixture.context.history
        var rng = LCG(state: seed)
        var files: [String: String] = [:]
        var t = Date(timeIntervalSince1970: 1_750_000_000)
        var parent: ObjectID?
        var tree: ObjectID?
        for i in 0..<count {
            // Gaps: mostly seconds to minutes, sometimes hours, now and then days.
            switch rng.next() % 10 {
            case 0...5: t += Double(rng.next() % 60 + 1)
            case 6...7: t += Double(rng.next() % 7200)
            case 8: t += Double(rng.next() % 86400)
            default: t += Double(rng.next() % (5 * 86400))
            }
            let name = "d\(rng.next() % 4)/f\(rng.next() % 10).txt"
            var update: HistoryRepository.Update
            if files[name] != nil, rng.next() % 15 == 0 {
                files[name] = nil
                update = .remove(path: name)
            } else {
                // Content that differs per version: some repeats of earlier content (a revert).
                let body = rng.next() % 20 == 0 && !files.isEmpty ? files.values.sorted()[0]
                    : (0..<(rng.next() % 200 + 20)).map { _ in "line \(i) \(rng.next() % 1000)\n" }.joined()
                files[name] = body
                update = .upsert(path: name, id: try h.writeBlob(Array(body.utf8)), mode: .file)
            }
            tree = try h.tree(from: tree, applying: [update])
            parent = try h.commit(tree: tree!, parent: parent, message: "sync: 1 change\n\nM \(name)\n\nSync-Sequence: \(i + 1)\n",
                                  author: "n", email: "n@sync", time: t)
            snapshots.append((t, tree!, files))
        }
        now = t + 3600
    }

    /// The trees that must stay, newest first, computed here from the test's own record.
    func expected(_ r: Retention) -> [ObjectID] {
        let newestFirst = Array(snapshots.reversed())
        var keep = [Bool](repeating: true, count: newestFirst.count)
        if let n = r.keepLast { for i in newestFirst.indices where i >= n { keep[i] = false } }
        if let d = r.keepWithin { for (i, s) in newestFirst.enumerated() where now.timeIntervalSince(s.time) > d { keep[i] = false } }
        if let max = r.maxSize {
            // The distinct contents of the newest i+1 snapshots, by their bytes.
            var seen = Set<String>(), total = 0
            for (i, s) in newestFirst.enumerated() {
                for c in s.files.values where seen.insert(c).inserted { total += c.utf8.count }
                if total > max { keep[i] = false }
            }
        }
        if r.thin {
            var slots = Set<String>()
            for (i, s) in newestFirst.enumerated() {
                let age = now.timeIntervalSince(s.time)
                let step = age < 3600 ? 30.0 : age < 86400 ? 3600 : age < 2_592_000 ? 86400 : 604_800
                if !slots.insert("\(step)/\(Int((s.time.timeIntervalSince1970 / step).rounded(.down)))").inserted { keep[i] = false }
            }
        }
        keep[0] = true
        return zip(newestFirst, keep).filter(\.1).map(\.0.tree)
    }

    /// The trees of the history's commits, newest first.
    func trees() throws -> [ObjectID] {
        var out: [ObjectID] = []
        try fixture.context.history.log { out.append($0.tree); return true }
        return out
    }
}

@Suite struct PruneTests {
    static let rules: [(String, Retention)] = [
        ("keep-last", Retention(keepLast: 137)),
        ("keep-within", Retention(keepWithin: 45 * 86400)),
        ("max-size", Retention(maxSize: 200_000)),
        ("thin", Retention(thin: true)),
        ("combined", Retention(keepWithin: 200 * 86400, keepLast: 600, maxSize: 400_000, thin: true)),
    ]

    @Test(arguments: 0..<5) func eachRuleAloneAndCombinedKeepsExactlyTheRightVersions(_ which: Int) throws {
        let (name, rule) = Self.rules[which]
        let h = try FabricatedHistory()
        let repo = try h.fixture.context.history
        let want = h.expected(rule)
        #expect(want.count > 1 && want.count < 1000, "\(name): the rule should drop some and keep some")

        let dry = try Pruner(h.fixture.context).run(rule, now: h.now, dryRun: true)
        #expect(dry.versionsAfter == want.count, "\(name)")
        #expect(dry.dropped.count == 1000 - want.count, "\(name)")
        #expect(try h.trees().count == 1000, "\(name): a dry run changes nothing")

        let before = repo.diskUsage()
        let report = try Pruner(h.fixture.context).run(rule, now: h.now, dryRun: false)
        #expect(try h.trees() == want, "\(name): exactly the versions the rule keeps, newest first")
        #expect(report.versionsAfter == want.count)
        let after = repo.diskUsage()
        #expect(after < before / 2, "\(name): history shrinks (\(before) -> \(after) bytes)")
        // Every kept snapshot's files read back as they were.
        let kept = Set(want)
        for s in h.snapshots where kept.contains(s.tree) {
            for (path, content) in s.files.prefix(5) {
                let e = try #require(try repo.entry(inTree: s.tree, path: path))
                #expect(String(decoding: try repo.blob(e.id), as: UTF8.self) == content)
            }
        }
        // The kept commits stand for the ones dropped before them, and plain git finds it whole.
        var squashed = 0
        try repo.log { squashed += Pruner.squashed($0.message) + 1; return true }
        #expect(squashed == 1000, "\(name): Sync-Squashed trailers account for every change")
        let fsck = try shell("git --git-dir='\(repo.path)' fsck --full --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
        let packs = try FileManager.default.contentsOfDirectory(atPath: repo.path + "/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(packs.count == 1)

        // A second prune by the same rule keeps all (the newest stays newest; only thinning moves with time).
        let again = try Pruner(h.fixture.context).run(rule, now: h.now, dryRun: false)
        #expect(again.versionsAfter == want.count)
        #expect(try h.trees() == want)
    }

    struct Crash: Error {}

    @Test(arguments: ["commits", "pack", "main", "chains", "stamp", "objects"])
    func aPruneStoppedAfterAnyStepLeavesTheOldOrTheNewHistoryWhole(_ step: String) throws {
        let h = try FabricatedHistory(count: 300)
        let before = try h.trees()
        let rule = Retention(keepLast: 40)
        let want = h.expected(rule)
        let pruner = Pruner(h.fixture.context)
        pruner.afterStep = { if $0 == step { throw Crash() } }
        #expect(throws: Crash.self) { try pruner.run(rule, now: h.now, dryRun: false) }
        let after = try h.trees()
        #expect(after == before || after == want, "\(step): \(after.count) versions")
        let fsck = try shell("git --git-dir='\(h.fixture.context.history.path)' fsck --full --no-progress 2>&1")
        #expect(fsck.status == 0 && !fsck.output.contains("missing"), "\(step): \(fsck.output)")
        // Every snapshot that should stay reads back.
        let repo = try h.fixture.context.history
        for s in h.snapshots where want.contains(s.tree) {
            for (path, content) in s.files {
                let e = try #require(try repo.entry(inTree: s.tree, path: path))
                #expect(String(decoding: try repo.blob(e.id), as: UTF8.self) == content)
            }
        }
        // The next prune finishes the work.
        _ = try Pruner(h.fixture.context).run(rule, now: h.now, dryRun: false)
        #expect(try h.trees() == want)
    }

    @Test func handlesOpenedBeforeAPruneSeeItsObjectsGoneOnceReopened() throws {
        let f = try Fixture()
        try f.write("a.txt", "first\n")
        _ = try f.commit()
        let first = try #require(try f.tree("a.txt")).id
        _ = try Pruner(f.context).run(Retention(), dryRun: false) // "first" now lives in a pack
        try f.write("a.txt", "second\n")
        _ = try f.commit()
        // Another handle, opened before the prune (as a long-running sync-commit or pull holds
        // one), that has read the pack holding "first".
        let other = try FolderContext(f.context.folder, state: f.state)
        #expect(try other.history.contains(first))
        _ = try Pruner(f.context).run(Retention(keepLast: 1), dryRun: false)
        // Committers and pullers reopen after taking the folder lock; then "first" is not there to
        // be trusted (an old handle may still read the deleted pack it has open).
        try other.history.reopenIfRewritten()
        #expect(try !other.history.contains(first))
        try f.write("a.txt", "first\n")
        _ = try Committer(other).commit()
        let fsck = try shell("git --git-dir='\(f.context.history.path)' fsck --full --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
        #expect(try f.content("a.txt") == "first\n")
    }

    @Test func aPruneThatDropsNothingPacksOnlyWhatWasRecordedSince() throws {
        let f = try Fixture()
        func packs() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: f.context.history.path + "/objects/pack").filter { $0.hasSuffix(".pack") }.count
        }
        // Loose objects that history reaches (an unreachable one, like the empty tree the first
        // commit started from, waits for a full repack).
        func looseReachable() throws -> String {
            try shell("""
                cd '\(f.context.history.path)' && git rev-list --objects main | cut -c1-40 | sort > reachable && \
                find objects -path 'objects/??/*' -type f | sed 's|objects/||; s|/||' | sort | comm -12 reachable -
                """).output
        }
        for round in 0..<3 {
            for i in 0..<5 {
                try f.write("f\(i).txt", "round \(round) file \(i)\n")
                _ = try f.commit()
            }
            let r = try Pruner(f.context).run(Retention(), dryRun: false)
            #expect(r.versionsAfter == 5 * (round + 1))
            #expect(try packs() == round + 1, "one more pack, the old ones untouched")
            let loose = try looseReachable()
            #expect(loose.isEmpty, "\(loose)")
        }
        #expect(try f.content("f4.txt") == "round 2 file 4\n")
        let fsck = try shell("git --git-dir='\(f.context.history.path)' fsck --full --no-progress 2>&1")
        #expect(fsck.status == 0, "\(fsck.output)")
        // Dropping something repacks all into one.
        _ = try Pruner(f.context).run(Retention(keepLast: 5), dryRun: false)
        #expect(try packs() == 1)
    }

    @Test func largeBlobsStayLooseUnlessAnotherWriterPackedThem() throws {
        let f = try Fixture()
        let h = try f.context.history
        let size = Int(Pruner.packLimit) + 1
        var tree: ObjectID?, parent: ObjectID?
        func commit(_ path: String, _ bytes: [UInt8]) throws -> ObjectID {
            let blob = try h.writeBlob(bytes)
            tree = try h.tree(from: tree, applying: [.upsert(path: path, id: blob, mode: .file)])
            parent = try h.commit(tree: tree!, parent: parent, message: "\(path)\n", author: "n", email: "n@sync")
            return blob
        }
        let packed = try commit("packed.bin", [UInt8](repeating: 1, count: size))
        // Plain git packs it (as an older sync or another tool might have).
        #expect(try shell("git --git-dir='\(h.path)' repack -a -d -q 2>&1").status == 0)
        let loose = try commit("loose.bin", [UInt8](repeating: 2, count: size))
        _ = try commit("small.txt", Array("small\n".utf8))
        _ = try Pruner(f.context).run(Retention(keepLast: 1), dryRun: false)
        #expect(h.isLoose(loose), "a large loose blob stays loose")
        #expect(!h.isLoose(packed))
        #expect(try h.blobSize(packed) == Int64(size), "a large packed blob is in the new pack")
        let fsck = try shell("git --git-dir='\(h.path)' fsck --full --no-progress 2>&1")
        #expect(fsck.status == 0 && !fsck.output.contains("missing"), "\(fsck.output)")
    }

    @Test func largeFileVersionsGoWithTheLastVersionThatPointsToThem() throws {
        let f = try Fixture()
        let store = f.context.folder.directory + "/versions"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        var pointers: [String] = []
        var parent: ObjectID?, tree: ObjectID?
        for i in 0..<3 {
            let content = Array(repeating: UInt8(65 + i), count: 1000)
            let id = HistoryRepository.hash(content)
            _ = FileManager.default.createFile(atPath: store + "/" + id.hex, contents: Data(content))
            pointers.append(id.hex)
            let p = try f.context.history.writeBlob(LargeFilePointer(id: id.hex, size: 1000).bytes)
            tree = try f.context.history.tree(from: tree, applying: [.upsert(path: "big.bin", id: p, mode: .file)])
            parent = try f.context.history.commit(tree: tree!, parent: parent, message: "v\(i)\n", author: "n", email: "n@sync")
        }
        let r = try Pruner(f.context).run(Retention(keepLast: 2), dryRun: false)
        #expect(r.storedVersionsRemoved == 1)
        #expect(!FileManager.default.fileExists(atPath: store + "/" + pointers[0]))
        #expect(FileManager.default.fileExists(atPath: store + "/" + pointers[1]))
    }

    @Test func deletionRecordsExpireByAgeOnlyOnceEveryPeerHasSeenThem() throws {
        let f = try Fixture()
        try f.write("a.txt", "a\n")
        try f.write("b.txt", "b\n")
        _ = try f.commit()
        try FileManager.default.removeItem(atPath: f.root + "/a.txt")
        _ = try f.commit()
        let deletedAt = try #require(try f.context.index.entry(RelativePath("a.txt"))).sequence
        let later = Date().addingTimeInterval(10)
        let rule = Retention(tombstonesWithin: 5)
        // Not old enough yet.
        var r = try Pruner(f.context).run(rule, now: Date(), dryRun: false)
        #expect(r.tombstonesExpired == 0 && r.tombstonesWaiting == 0)
        // Old enough, but a peer that pulled from here has not asked past it.
        try f.context.index.noteSeen(by: "peer1", upTo: deletedAt - 1)
        r = try Pruner(f.context).run(rule, now: later, dryRun: false)
        #expect(r.tombstonesExpired == 0 && r.tombstonesWaiting == 1)
        #expect(try f.context.index.entry(RelativePath("a.txt"))?.deleted == true)
        // It has now; but another peer that pulled once has not, and will not come back.
        try f.context.index.noteSeen(by: "peer1", upTo: deletedAt)
        try f.context.index.noteSeen(by: "peer2", upTo: 1)
        r = try Pruner(f.context).run(rule, now: later, dryRun: false)
        #expect(r.tombstonesExpired == 0 && r.tombstonesWaiting == 1)
        #expect(try f.context.index.forgetSeen(by: "peer2"))
        #expect(try f.context.index.acknowledged() == ["peer1": deletedAt])
        r = try Pruner(f.context).run(rule, now: later, dryRun: false)
        #expect(r.tombstonesExpired == 1)
        #expect(try f.context.index.entry(RelativePath("a.txt")) == nil)
        #expect(try f.context.index.entry(RelativePath("b.txt"))?.deleted == false)
        // The rescan that follows does not take the missing row for a new deletion.
        #expect(try f.commit() == nil)
    }
}

/// A seeded generator (Knuth's MMIX constants), so a failing history can be made again.
struct LCG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
}

/// Runs a shell command; its status and merged output.
func shell(_ command: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
