import Foundation
import Testing
@testable import SyncGit
import SyncTestSupport

/// Packs of small blobs: deflated through one reused stream, or stored as they are when deflate
/// cannot shrink them; either way every blob reads back and git finds the pack sound.
@Suite struct PackWriterTests {
    let dir = NSTemporaryDirectory() + "sync-pack-" + UUID().uuidString

    /// Bytes from a seeded generator: reproducible, and as random as zlib can tell.
    static func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    @Test func whatDeflateCannotShrinkIsTold() {
        #expect(PackWriter.incompressible(Self.noise(1024, seed: 1)))
        #expect(PackWriter.incompressible(Self.noise(300_000, seed: 2)))
        #expect(!PackWriter.incompressible(Self.noise(511, seed: 3))) // too short to tell
        #expect(!PackWriter.incompressible(Array(String(repeating: "let x = readLine() ?? \"\"\n", count: 100).utf8)))
        // Half random, half text: deflate still gains.
        #expect(!PackWriter.incompressible(Self.noise(4096, seed: 4) + Array(String(repeating: "a line of text\n", count: 300).utf8)))
        #expect(!PackWriter.incompressible([UInt8](repeating: 0, count: 100_000)))
    }

    /// The bits a byte carries, by the table of c log2 c and past it, as by the definition.
    @Test func entropyIsTheDefinitions() {
        func defined(_ bytes: [UInt8]) -> Double {
            var counts = [Int](repeating: 0, count: 256)
            for b in bytes { counts[Int(b)] += 1 }
            return counts.filter { $0 > 0 }.reduce(0.0) { h, c in
                let p = Double(c) / Double(bytes.count)
                return h - p * log2(p)
            }
        }
        for bytes in [[], [1], [1, 2], Self.noise(1024, seed: 5), Self.noise(3 << 20, seed: 6),
                      [UInt8](repeating: 9, count: 5000), Array(String(repeating: "ab\n", count: 40_000).utf8),
                      Self.noise(100, seed: 7) + [UInt8](repeating: 0, count: 70_000)] {
            #expect(abs(StoredObject.entropy(bytes[...]) - defined(bytes)) < 1e-9, "\(bytes.count) bytes")
        }
    }

    @Test func storedAndDeflatedBlobsReadBackAndThePackIsSound() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try HistoryRepository.create(at: dir + "/h.git", worktree: dir + "/w")
        let pack = PackWriter(r)
        // Random ones of every size around a stored block's limit (65,535 bytes), text, empty.
        var blobs: [[UInt8]] = [[], [7], Array("hello\n".utf8)]
        for (i, n) in [512, 1024, 4096, 65534, 65535, 65536, 131_071, 200_000, 1 << 20 - 1].enumerated() {
            blobs.append(Self.noise(n, seed: UInt64(10 + i)))
        }
        for i in 0..<80 { blobs.append(Array("file \(i)\n\(String(repeating: "text that deflates well ", count: i * 10))".utf8)) }
        // Every other one as a blob whose id the caller vouches for (it is not hashed again).
        var ids: [ObjectID] = []
        for (i, b) in blobs.enumerated() {
            if i % 2 == 0 { ids.append(try pack.add(b)) } else {
                let id = HistoryRepository.hash(b)
                try pack.add(b, verified: id)
                ids.append(id)
            }
        }
        try pack.flush()
        r.refreshObjects()
        for (b, id) in zip(blobs, ids) {
            #expect(id == HistoryRepository.hash(b))
            #expect(try r.blob(id) == b)
        }
        let packs = try FileManager.default.contentsOfDirectory(atPath: dir + "/h.git/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(packs.count == 1)
        // Stored entries take their own size and a little more; the text shrank.
        let size = try FileManager.default.attributesOfItem(atPath: dir + "/h.git/objects/pack/" + packs[0])[.size] as! Int
        let randomBytes = blobs[3..<12].reduce(0) { $0 + $1.count }, allBytes = blobs.reduce(0) { $0 + $1.count }
        #expect(size > randomBytes && size < allBytes)
        let fsck = try git(["fsck", "--full", "--strict", "--no-progress", "--no-dangling"])
        #expect(fsck.0 == 0, "\(fsck.1)")
    }

    /// Runs git on the repository; its status and what it printed.
    func git(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "--git-dir=" + dir + "/h.git"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    @Test func packsThatPileUpGetAMultiPackIndexThatGitAccepts() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try HistoryRepository.create(at: dir + "/h.git", worktree: dir + "/w")
        var ids: [ObjectID] = []
        func onePack(_ n: Int) throws {
            let pack = PackWriter(r)
            for i in 0..<PackWriter.fewest { ids.append(try pack.add(Array("pack \(n) blob \(i)\n".utf8))) }
            try pack.flush()
        }
        for n in 0..<7 { try onePack(n) }
        #expect(r.coveredPackCount() == nil, "seven packs: none yet")
        try onePack(7)
        #expect(r.coveredPackCount() == 8, "the eighth pack: all eight covered")
        for n in 8..<15 { try onePack(n) }
        #expect(r.coveredPackCount() == 8, "seven more are probed one by one")
        try onePack(15)
        #expect(r.coveredPackCount() == 16)
        // Every object is found (through the index, and in a fresh handle), and git agrees.
        let fresh = try HistoryRepository(openAt: dir + "/h.git")
        for id in ids { #expect(r.contains(id) && fresh.contains(id)) }
        #expect(!fresh.contains(HistoryRepository.hash(Array("not stored".utf8))))
        let verify = try git(["multi-pack-index", "verify"])
        #expect(verify.0 == 0, "\(verify.1)")
        let fsck = try git(["fsck", "--full", "--strict", "--no-progress", "--no-dangling"])
        #expect(fsck.0 == 0, "\(fsck.1)")
        #expect(try git(["cat-file", "-e", ids[0].hex]).0 == 0)

        // Packs removed (as a prune does): the index goes first, nothing names a missing pack.
        let keep = String(r.packNames().sorted()[0].dropFirst(5).dropLast(4))
        try r.removeObjects(exceptPack: keep, keepLoose: [])
        #expect(r.coveredPackCount() == nil)
        #expect(r.packNames().count == 1)
        let after = try git(["fsck", "--no-progress", "--no-dangling", "--connectivity-only"])
        #expect(after.0 == 0, "\(after.1)")
    }
}
