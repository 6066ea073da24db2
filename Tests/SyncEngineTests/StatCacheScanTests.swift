import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine
import SyncTestSupport

/// The stat cache a full scan reads in place of the index's rows: kept by a scan that finds nothing,
/// used only while the index holds the state it was taken from, never when it is damaged.
@Suite struct StatCacheScanTests {
    func fromCache(_ f: Fixture) throws -> Bool {
        try StatRows(f.context, pageSize: 100, cached: true).fromCache
    }

    @Test func theCopyServesOnlyTheIndexStateItWasTakenFrom() throws {
        let f = try Fixture()
        for p in ["a", "d/b", "e"] { try f.writeSettled(p) }
        #expect(f.lines(try f.commit()) == ["A a", "A d/b", "A e"])
        #expect(!FileManager.default.fileExists(atPath: f.context.folder.statCachePath), "a scan that recorded keeps no copy")
        #expect(try f.commit() == nil)
        #expect(try fromCache(f), "a scan that found nothing keeps one")
        #expect(try f.commit() == nil, "and the next scan reads it")

        // A write to the index that no scan saw (as a pull's): `a` recorded as deleted while it
        // is still there. The copy says `a` is known and unchanged; the index, that it is new.
        let node = try f.state.identity().id
        var a = try #require(try f.context.index.entry(RelativePath("a")))
        a.deleted = true
        a.version = a.version.bumped(by: node)
        try f.context.index.record(changes: [a], commit: nil)
        #expect(try !fromCache(f))
        #expect(f.lines(try f.commit()) == ["A a"], "the scan read the index, not the stale copy")
        #expect(try f.commit() == nil)
        #expect(try fromCache(f))

        // A change on disk is seen through the copy as through the index.
        try f.write("e", "changed\n")
        try FileManager.default.removeItem(atPath: f.root + "/d/b")
        #expect(f.lines(try f.commit()) == ["D d/b", "M e"])
    }

    /// A copy changed on disk (its checksum no longer holds) is read to its end, found damaged,
    /// and the scan is made again from the index: one row renamed in it would otherwise send the
    /// scan after a path that never was and take a known file for new (checked: without the
    /// checksum, this scan is not empty and keeps no new copy).
    @Test func aDamagedCopyIsThrownAwayAndTheIndexRead() throws {
        let f = try Fixture()
        for p in ["a", "d/b"] { try f.writeSettled(p) }
        _ = try f.commit()
        #expect(try f.commit() == nil)
        let path = f.context.folder.statCachePath
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let row: [UInt8] = [1, 0, UInt8(ascii: "a")]
        let at = try #require((0...(bytes.count - 3)).first { Array(bytes[$0..<($0 + 3)]) == row })
        bytes[at + 2] = UInt8(ascii: "c") // still in order: "c" < "d"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try f.commit() == nil, "nothing changed")
        #expect(try fromCache(f), "the scan that found nothing wrote a good copy again")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) != bytes)
    }

    /// Random folders, changed at random after the copy was kept: the plan of a scan from the
    /// copy is the plan of a scan from the index (candidates, deletions, in order). Seeded; names
    /// that sort around '/' ("a-b", "a/b", "a0"), not ASCII, at several depths.
    @Test(arguments: 1...30) func aScanFromTheCopyPlansAsOneFromTheIndex(seed: UInt64) throws {
        var rng = SplitMix(seed)
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        let f = try Fixture()
        let names = ["a", "a-b", "a0", "b", "é", "z z", "Z", "a.b"]
        func randomPath() -> String { (0...Int(rng.next() % 3)).map { _ in pick(names) }.joined(separator: "/") }
        var made: [String] = []
        for _ in 0..<40 {
            let p = randomPath()
            // A path under one already a file, or one already a directory, is skipped.
            if made.contains(where: { p.hasPrefix($0 + "/") || $0.hasPrefix(p + "/") || $0 == p }) { continue }
            try f.writeSettled(p)
            made.append(p)
        }
        _ = try f.commit()
        // Some deletion records among the rows.
        for p in made where rng.next() % 8 == 0 { try FileManager.default.removeItem(atPath: f.root + "/" + p) }
        _ = try f.commit()
        made.removeAll { !FileManager.default.fileExists(atPath: f.root + "/" + $0) }
        #expect(try f.commit() == nil)
        #expect(try StatRows(f.context, pageSize: 7, cached: true).fromCache, "seed \(seed)")
        // Changes: edits, deletions, new files, a directory removed whole.
        for p in made {
            switch rng.next() % 6 {
            case 0: try f.write(p, "changed \(p)\n")
            case 1: try FileManager.default.removeItem(atPath: f.root + "/" + p)
            default: break
            }
        }
        for _ in 0..<6 {
            let p = randomPath()
            if FileManager.default.fileExists(atPath: f.root + "/" + p) { continue }
            if (try? f.write(p, "new \(p)\n")) == nil { continue } // under a file: not made
        }
        if let d = made.compactMap({ $0.split(separator: "/").count > 1 ? String($0.split(separator: "/")[0]) : nil }).first,
           rng.next() % 2 == 0 {
            try? FileManager.default.removeItem(atPath: f.root + "/" + d)
        }
        let committer = Committer(f.context)
        let scanner = f.context.scanner()
        let fromCopy = try committer.wholeFolder(scanner: scanner, cached: true)
        let fromIndex = try committer.wholeFolder(scanner: scanner, cached: false)
        #expect(fromCopy.candidates.map(\.path) == fromIndex.candidates.map(\.path), "seed \(seed)")
        #expect(fromCopy.deleted == fromIndex.deleted, "seed \(seed)")
        #expect(fromCopy.deletedFiles == fromIndex.deletedFiles, "seed \(seed)")
        #expect(!fromIndex.candidates.isEmpty || !fromIndex.deleted.isEmpty || made.isEmpty, "seed \(seed): nothing changed")
    }
}
