import Foundation
import Testing
@testable import SyncDelta

/// Seeded bytes for the tests (an LCG: the same files on every run).
struct Bytes {
    var x: UInt64
    init(_ seed: UInt64) { x = seed }
    mutating func next() -> UInt64 { x = x &* 6364136223846793005 &+ 1442695040888963407; return x >> 29 }
}

@Suite struct DeltaTests {
    @Test func smallEditMovesASmallDeltaAndPatchRebuildsTheFile() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = SystemRandomNumberGenerator()
        var old = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &g) }
        try Data(old).write(to: URL(fileURLWithPath: dir + "/old"))
        old[2_000_000] ^= 0xff
        old.insert(contentsOf: [1, 2, 3], at: 10)
        try Data(old).write(to: URL(fileURLWithPath: dir + "/new"))

        try Delta.signature(of: dir + "/old", to: dir + "/sig")
        try Delta.delta(signature: dir + "/sig", newFile: dir + "/new", to: dir + "/delta")
        try Delta.patch(basis: dir + "/old", delta: dir + "/delta", to: dir + "/rebuilt")

        let deltaSize = try FileManager.default.attributesOfItem(atPath: dir + "/delta")[.size] as! Int
        #expect(deltaSize < 64 * 1024)
        #expect(FileManager.default.contentsEqual(atPath: dir + "/new", andPath: dir + "/rebuilt"))
    }

    /// A big file's signature is computed in ranges on several threads: joined, it is the one
    /// signature of the whole file, byte for byte, whatever the size against the block length.
    @Test(arguments: [0, 1, 2047, 2048, 2049, 3 * 2048, 1_000_003])
    func aSignatureInPartsIsTheWholeFilesSignature(size: Int) throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = Bytes(UInt64(size) + 1)
        try Data((0..<size).map { _ in UInt8(truncatingIfNeeded: g.next()) }).write(to: URL(fileURLWithPath: dir + "/f"))
        try Delta.signature(of: dir + "/f", to: dir + "/whole", threads: 1)
        for threads in [2, 3, 7] {
            try Delta.signature(of: dir + "/f", to: dir + "/parts", threads: threads, splitFrom: 0)
            #expect(FileManager.default.contentsEqual(atPath: dir + "/whole", andPath: dir + "/parts"), "\(size) bytes, \(threads) threads")
        }
        // The block length is librsync's for the size; ranges are whole blocks.
        let block = Int64(try Delta.signatureBlockLength(dir + "/whole"))
        for threads in 1...5 {
            let ranges = Delta.split(Int64(size), unit: block, threads: threads)
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == Int64(size))
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && $0.upperBound % block == 0 })
            #expect(ranges.count <= threads)
        }
    }

    /// A big file's delta is computed in ranges on several threads and joined: it rebuilds the new
    /// file; an edit in place costs no more than in one piece, an insertion at most a block more
    /// per range.
    @Test func aDeltaInPartsRebuildsTheFile() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = Bytes(42)
        let old = (0..<(3 << 20)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        try Data(old).write(to: URL(fileURLWithPath: dir + "/old"))
        try Delta.signature(of: dir + "/old", to: dir + "/sig", threads: 1)
        let block = try Delta.signatureBlockLength(dir + "/sig")
        var inPlace = old
        for at in [0, block - 1, block, 1 << 20, (3 << 20) - 1] { inPlace[at] ^= 0x5a }
        var inserted = old
        inserted.insert(contentsOf: [1, 2, 3, 4, 5], at: 1_500_000)
        inserted.removeSubrange(2_500_000..<2_500_100)
        let other = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        for (name, new) in [("in place", inPlace), ("insertion", inserted), ("unrelated", other), ("same", old)] {
            try Data(new).write(to: URL(fileURLWithPath: dir + "/new"))
            try Delta.delta(signature: dir + "/sig", newFile: dir + "/new", to: dir + "/d1", threads: 1)
            try Delta.delta(signature: dir + "/sig", newFile: dir + "/new", to: dir + "/d3", threads: 3, splitFrom: 0)
            try Delta.patch(basis: dir + "/old", delta: dir + "/d3", to: dir + "/rebuilt")
            #expect(FileManager.default.contentsEqual(atPath: dir + "/new", andPath: dir + "/rebuilt"), "\(name)")
            let one = try FileManager.default.attributesOfItem(atPath: dir + "/d1")[.size] as! Int
            let three = try FileManager.default.attributesOfItem(atPath: dir + "/d3")[.size] as! Int
            #expect(three <= one + (name == "insertion" ? 2 * block : 0) + 3 * 16, "\(name): \(three) bytes in parts, \(one) whole")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.contains(".part") })
        }
    }

    @Test func aTruncatedDeltaIsAnError() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: dir + "/old"))
        try Data((0..<100_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: dir + "/new"))
        try Delta.signature(of: dir + "/old", to: dir + "/sig")
        try Delta.delta(signature: dir + "/sig", newFile: dir + "/new", to: dir + "/delta")
        let d = try Data(contentsOf: URL(fileURLWithPath: dir + "/delta"))
        try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: dir + "/delta"))
        #expect(throws: DeltaError.self) {
            try Delta.patch(basis: dir + "/old", delta: dir + "/delta", to: dir + "/rebuilt")
        }
        #expect(throws: DeltaError.self) {
            try Delta.patch(basis: dir + "/missing", delta: dir + "/delta", to: dir + "/rebuilt")
        }
    }

    /// A delta of a few bytes can ask for gigabytes of output (copy commands of the whole basis,
    /// over and over): the patch hands it over a piece at a time, and a writer that throws ends it.
    @Test func aWriterThatThrowsStopsAnExpandingPatch() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }).write(to: URL(fileURLWithPath: dir + "/old"))
        // librsync's delta: its magic, copy commands (0x47: a 1-byte position, a 4-byte length), the end.
        func copies(_ n: Int) -> [UInt8] {
            [0x72, 0x73, 0x02, 0x36] + Array(repeating: [0x47, 0x00, 0x00, 0x03, 0x0d, 0x40], count: n).joined() + [0x00]
        }
        try Data(copies(3)).write(to: URL(fileURLWithPath: dir + "/three"))
        var made = 0
        try Delta.patch(basis: dir + "/old", delta: dir + "/three") { made += $0.count }
        #expect(made == 600_000)

        try Data(copies(50_000)).write(to: URL(fileURLWithPath: dir + "/huge")) // 10 GB asked for
        struct Enough: Error {}
        made = 0
        #expect(throws: Enough.self) {
            try Delta.patch(basis: dir + "/old", delta: dir + "/huge") { made += $0.count; if made > 300_000 { throw Enough() } }
        }
        #expect(made <= 300_000 + (1 << 20))
    }
}
