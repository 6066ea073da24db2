import Foundation
import Testing
@testable import SyncDelta

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
}
