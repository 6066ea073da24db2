import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine

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
}
