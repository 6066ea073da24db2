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

    /// Signatures carry MD4 strong sums (RabinKarp weak sums: magic "rs\x01\x46"); a delta against a
    /// signature of librsync's default kind (BLAKE2, as earlier versions of sync send) is made
    /// as well, and both patch to the new file.
    @Test func signaturesAreMD4AndADeltaAgainstEitherKindPatches() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = Bytes(99)
        var bytes = (0..<(3 << 20)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/old"))
        bytes[1_500_000] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/new"))
        for (kind, magic) in [(Delta.StrongSums.md4, [0x72, 0x73, 0x01, 0x46]), (.blake2, [0x72, 0x73, 0x01, 0x47])] {
            try Delta.signature(of: dir + "/old", to: dir + "/sig", strongSums: kind)
            let sig = try #require(FileManager.default.contents(atPath: dir + "/sig"))
            #expect(Array(sig.prefix(4)) == magic.map(UInt8.init), "\(kind)")
            try Delta.delta(signature: dir + "/sig", newFile: dir + "/new", to: dir + "/delta")
            try Delta.patch(basis: dir + "/old", delta: dir + "/delta", to: dir + "/rebuilt")
            let deltaSize = try FileManager.default.attributesOfItem(atPath: dir + "/delta")[.size] as! Int
            #expect(deltaSize < 64 << 10, "\(kind)")
            #expect(FileManager.default.contentsEqual(atPath: dir + "/new", andPath: dir + "/rebuilt"), "\(kind)")
            try FileManager.default.removeItem(atPath: dir + "/rebuilt")
        }
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
    }

    /// A sparse file's signature skips the blocks that lie wholly in a hole (each has the zero
    /// block's sums): byte for byte the signature of the same bytes written out in full, for holes
    /// at the start, in the middle, at the end, over all but the last block, and none.
    @Test(arguments: ["start", "middle", "end", "all", "none", "scattered"])
    func aSparseFilesSignatureIsTheDenseCopysSignature(holes: String) throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 8 << 20 + 12_345
        var g = Bytes(UInt64(holes.utf8.count))
        let data: [Range<Int>] = switch holes {
        case "start": [(3 << 20)..<size]
        case "middle": [0..<(1 << 20) + 7, (6 << 20) + 1..<size]
        case "end": [0..<(2 << 20) + 100]
        case "all": []
        case "none": [0..<size]
        default: stride(from: 100_000, to: size, by: 700_000).map { $0..<$0 + 5_000 }
        }
        let fd = open(dir + "/sparse", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(ftruncate(fd, off_t(size)) == 0)
        var dense = [UInt8](repeating: 0, count: size)
        for r in data {
            let bytes = r.map { _ in UInt8(truncatingIfNeeded: g.next()) | 1 }
            dense.replaceSubrange(r, with: bytes)
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(r.lowerBound)) }
        }
        close(fd)
        try Data(dense).write(to: URL(fileURLWithPath: dir + "/dense"))
        try Delta.signature(of: dir + "/dense", to: dir + "/whole", threads: 1)
        let sparse = open(dir + "/sparse", O_RDONLY)
        defer { close(sparse) }
        let header = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/whole")).prefix(12))
        let block = header[4..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let layout = Delta.layout(sparse, size: Int64(size), unit: block)
        #expect(layout.contains { $0.hole } == (holes != "none"), "\(layout)")
        for threads in [1, 3] {
            try Delta.signature(of: dir + "/sparse", to: dir + "/parts", threads: threads, splitFrom: 0)
            #expect(FileManager.default.contentsEqual(atPath: dir + "/whole", andPath: dir + "/parts"), "\(holes), \(threads) threads")
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

    /// Writes a file of `size` bytes with seeded bytes (never zero) over `data` and holes elsewhere
    /// (or zeros written out when `dense`); returns its bytes.
    @discardableResult
    static func write(_ path: String, size: Int, data: [Range<Int>], seed: UInt64, dense: Bool = false) -> [UInt8] {
        var g = Bytes(seed)
        var all = [UInt8](repeating: 0, count: size)
        for r in data { for i in r { all[i] = UInt8(truncatingIfNeeded: g.next()) | 1 } }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        _ = ftruncate(fd, off_t(size))
        for r in dense ? [0..<size] : data {
            _ = all[r].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(r.lowerBound)) }
        }
        return all
    }

    /// The holes of a sparse file are not read for its delta: they are copied from the blocks of
    /// zeros of the old version, a run of them in one command. The old version sparse or written
    /// out, with its zeros where the new one has its hole or elsewhere, or none at all (the hole
    /// is then read): the patch rebuilds the new version every time, and when the old version has
    /// zeros at the same place the whole hole costs one command (without that it costs 8 bytes a
    /// block: checked).
    @Test(arguments: ["same", "dense", "moved", "none", "start", "all"])
    func aSparseFilesHoleIsCopiedWhole(old kind: String) throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 24 << 20 + 4_321
        let head = 0..<(1 << 20) + 17, tail = (20 << 20) - 5..<size
        // The new version: a hole between its head and its tail (or from its start, or everywhere
        // but the last byte), one byte of its tail changed.
        let newData: [Range<Int>] = switch kind {
        case "start": [tail]
        case "all": [(size - 1)..<size]
        default: [head, tail]
        }
        var new = Self.write(dir + "/new", size: size, data: newData, seed: 5)
        new[size - 100] ^= 0x80
        _ = new[(size - 100)...].withUnsafeBytes { b in
            let fd = open(dir + "/new", O_WRONLY); defer { close(fd) }
            return pwrite(fd, b.baseAddress, 1, off_t(size - 100))
        }
        switch kind {
        case "dense": Self.write(dir + "/old", size: size, data: newData, seed: 5, dense: true)
        case "moved":
            // The same head and tail, but data over most of the new version's hole: its zeros are elsewhere.
            var old = Self.write(dir + "/old", size: size, data: newData, seed: 5)
            for i in (2 << 20)..<(12 << 20) { old[i] = UInt8(truncatingIfNeeded: i % 251 + 1) }
            let fd = open(dir + "/old", O_WRONLY); defer { close(fd) }
            _ = old[(2 << 20)..<(12 << 20)].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(2 << 20)) }
        case "none": Self.write(dir + "/old", size: size, data: [0..<size], seed: 9) // no block of zeros
        default: Self.write(dir + "/old", size: size, data: newData, seed: 5)
        }
        try Delta.signature(of: dir + "/old", to: dir + "/sig")
        try Delta.delta(signature: dir + "/sig", newFile: dir + "/new", to: dir + "/delta")
        var rebuilt: [UInt8] = []
        try Delta.patch(basis: dir + "/old", delta: dir + "/delta") { rebuilt += $0 }
        #expect(rebuilt == new, "\(kind): rebuilt \(rebuilt.count) bytes")
        let deltaSize = try FileManager.default.attributesOfItem(atPath: dir + "/delta")[.size] as! Int
        switch kind {
        case "same", "dense", "start", "all", "moved": #expect(deltaSize < 2_048, "\(kind): \(deltaSize) bytes of delta")
        default: #expect(deltaSize > 20 << 20, "\(kind): \(deltaSize) bytes of delta") // the head and the hole as literals
        }
    }

    /// COPY commands take the narrowest of 1, 2, 4 and 8 bytes for each number.
    @Test func copyCommandsTakeTheNarrowestWidths() {
        #expect(Delta.copyCommand(0, 1) == [0x45, 0, 1])
        #expect(Delta.copyCommand(0x100, 0x10000) == [0x4b, 1, 0, 0, 1, 0, 0])
        #expect(Delta.copyCommand(1 << 32, 0xffff_ffff) == [0x53, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
        #expect(Delta.copyCommand(5, 1 << 40) == [0x48, 5, 0, 0, 1, 0, 0, 0, 0, 0])
    }

    /// A peer's signature that is not what it claims (a body that is not whole blocks, a strong
    /// sum of no bytes, a block length of zero) gives no blocks of zeros, whatever it says; one
    /// with a block length above the limit is refused.
    @Test func aMalformedSignatureHasNoZeroBlocks() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Self.write(dir + "/old", size: 3 << 20, data: [0..<100], seed: 3)
        try Delta.signature(of: dir + "/old", to: dir + "/sig")
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/sig")))
        #expect(Delta.ZeroBlocks(signature: dir + "/sig") != nil)
        var cut = good; cut.removeLast()
        var noStrong = good; noStrong[8..<12] = [0, 0, 0, 0]
        var noBlock = good; noBlock[4..<8] = [0, 0, 0, 0]
        var wide = good; wide[4..<8] = [0x7f, 0xff, 0xff, 0xff]
        for (name, bytes) in [("cut", cut), ("noStrong", noStrong), ("noBlock", noBlock), ("wide", wide), ("short", Array(good.prefix(5)))] {
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/bad"))
            #expect(Delta.ZeroBlocks(signature: dir + "/bad") == nil, "\(name)")
        }
        // A block length above the limit: refused before librsync holds that much of the file;
        // at the limit, taken.
        var big = good; big[4..<8] = [0x01, 0x00, 0x00, 0x01]
        try Data(big).write(to: URL(fileURLWithPath: dir + "/big"))
        #expect(throws: DeltaError.self) { try Delta.delta(signature: dir + "/big", newFile: dir + "/old", to: dir + "/delta") }
        var limit = good; limit[4..<8] = [0x01, 0x00, 0x00, 0x00]
        try Data(limit).write(to: URL(fileURLWithPath: dir + "/limit"))
        try Delta.delta(signature: dir + "/limit", newFile: dir + "/old", to: dir + "/delta")
        try Delta.delta(signature: dir + "/sig", newFile: dir + "/old", to: dir + "/delta")
    }

    /// What the delta copies from a hole of the basis is given as zeros, not read: after the
    /// patch, none of the hole's pages is in the page cache (reading a hole puts zeroed pages
    /// there: without this the whole hole was, checked).
    @Test func aPatchDoesNotReadTheBasissHoles() throws {
        let dir = NSTemporaryDirectory() + "sync-delta-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 40 << 20
        let hole = (4 << 20)..<(36 << 20)
        let old = Self.write(dir + "/old", size: size, data: [0..<hole.lowerBound, hole.upperBound..<size], seed: 11)
        // The new version copies the whole basis, hole and all, then some of its head again.
        let delta = Delta.deltaMagic + Delta.copyCommand(0, Int64(size)) + Delta.copyCommand(100, 5_000) + [0]
        try Data(delta).write(to: URL(fileURLWithPath: dir + "/delta"))
        var rebuilt: [UInt8] = []
        try Delta.patch(basis: dir + "/old", delta: dir + "/delta") { rebuilt += $0 }
        #expect(rebuilt == old + old[100..<5_100])
        let fd = open(dir + "/old", O_RDONLY)
        defer { close(fd) }
        let map = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(map, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = [UInt8](repeating: 0, count: size / page)
        #expect(mincore(map, size, &resident) == 0)
        let inHole = resident[(hole.lowerBound / page)..<(hole.upperBound / page)].filter { $0 & 1 == 1 }.count
        #expect(inHole == 0, "\(inHole) of the hole's pages were read")
    }
}
