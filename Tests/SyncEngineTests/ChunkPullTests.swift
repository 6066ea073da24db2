import Foundation
import Testing
import SyncTestSupport
@testable import SyncCore
@testable import SyncEngine
@testable import SyncProtocol

/// A new version of a file above max-blob is made of the chunks the pulling node holds of its
/// own version and the few it fetches; when that cannot be done, a delta or the whole file.
@Suite struct ChunkPullTests {
    typealias Node = PullerPropertyTests.Node

    static func write(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func manifest(_ node: Node, _ path: String) throws -> [UInt8]? {
        guard let hash = try node.context.index.entry(RelativePath(path))?.hash else { return nil }
        return try node.context.index.manifest(for: hash)
    }

    @Test func anEditOfABigFileMovesAFewChunks() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-chunks-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try Node.pair(base)
        // 20 MiB: above the 16 MiB of history.max-blob.
        var bytes = ChunkManifestTests.random(20 << 20, seed: 7)
        let file = a.root + "/disk.img"
        try Self.write(file, bytes)
        _ = try Committer(a.context).commit(paths: nil)
        // A made its manifest as it committed, B as the file came.
        let first = try PullerPropertyTests.pull(b, from: a)
        #expect(!first.held && first.filesFromChunks == 0)
        #expect(try manifest(a, "disk.img") != nil)
        #expect(try manifest(b, "disk.img") == manifest(a, "disk.img"))

        // One byte changed in the middle, then 1,000 bytes put in front: a chunk or two each.
        for step in 0..<2 {
            let before = try #require(try b.context.index.entry(RelativePath("disk.img"))?.hash)
            if step == 0 { bytes[10 << 20] ^= 0x5a } else { bytes = ChunkManifestTests.random(1000, seed: 8) + bytes }
            try Self.write(file, bytes)
            _ = try Committer(a.context).commit(paths: nil)
            let pulled = try PullerPropertyTests.pull(b, from: a)
            #expect(!pulled.held, "\(pulled.problems)")
            #expect(pulled.filesFromChunks == 1)
            #expect(pulled.contentBytes <= 3 * Int64(Chunker.maximum(shift: Chunker.shift(forSize: Int64(bytes.count)))),
                    "step \(step) moved \(pulled.contentBytes) bytes")
            #expect(FileManager.default.contentsEqual(atPath: file, andPath: b.root + "/disk.img"))
            // B keeps the new version's manifest and lets the old one go.
            #expect(try manifest(b, "disk.img") == manifest(a, "disk.img"))
            #expect(try b.context.index.manifest(for: before) == nil)
        }
    }

    @Test func withoutAManifestOrWithAWrongOneTheFileStillComes() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-chunks-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try Node.pair(base)
        var bytes = ChunkManifestTests.random(18 << 20, seed: 9)
        let file = a.root + "/big.bin"
        try Self.write(file, bytes)
        _ = try Committer(a.context).commit(paths: nil)
        _ = try PullerPropertyTests.pull(b, from: a)

        // B's manifest says its chunks are elsewhere than they are (two ids swapped): the file
        // made of them does not match its id, and a delta brings it instead.
        let own = try #require(try manifest(b, "big.bin"))
        let hash = try #require(try b.context.index.entry(RelativePath("big.bin"))?.hash)
        var m = try #require(ChunkManifest(decoding: own, size: Int64(bytes.count)))
        var chunks = m.chunks
        chunks.swapAt(1, 2)
        chunks.swapAt(5, 6)
        m = ChunkManifest(shift: m.shift, size: m.size, chunks: chunks.indices.map { i in
            ChunkManifest.Chunk(length: m.chunks[i].length, id: chunks[i].id)
        })
        try b.context.index.keepManifests([hash: m.encoded])
        bytes[9 << 20] ^= 1
        try Self.write(file, bytes)
        _ = try Committer(a.context).commit(paths: nil)
        let lied = try PullerPropertyTests.pull(b, from: a)
        #expect(!lied.held, "\(lied.problems)")
        #expect(lied.filesFromChunks == 0)
        #expect(lied.contentBytes < 1 << 20, "the delta moved \(lied.contentBytes) bytes")
        #expect(FileManager.default.contentsEqual(atPath: file, andPath: b.root + "/big.bin"))
        // The patched version's manifest is made as it is written: the next edit goes by chunks.
        #expect(try manifest(b, "big.bin") == manifest(a, "big.bin"))

        // A keeps no manifest of what it commits (its max-blob above the file's size, as an older
        // node keeps none): a delta again.
        var folder = a.context.folder
        try folder.config.set("history.max-blob", String(64 << 20))
        try folder.saveConfig()
        let wide = try FolderContext(try a.state.folder(folder.id.rawValue), state: a.state)
        bytes[1 << 20] ^= 1
        try Self.write(file, bytes)
        _ = try Committer(wide).commit(paths: nil)
        #expect(try manifest(a, "big.bin") == nil)
        let none = try PullerPropertyTests.pull(b, from: a)
        #expect(!none.held && none.filesFromChunks == 0)
        #expect(none.contentBytes < 1 << 20, "the delta moved \(none.contentBytes) bytes")
        #expect(FileManager.default.contentsEqual(atPath: file, andPath: b.root + "/big.bin"))
    }

    /// A manifest is served only of a folder the peer may see (a denied one is answered as a
    /// missing one, byte for byte), only for the content the index holds now, as sent (8-byte ids).
    @Test func aManifestIsServedOnlyOfAVisibleFolderAndOfItsCurrentContent() throws {
        let f = try Fixture()
        let bytes = ChunkManifestTests.random(17 << 20, seed: 10)
        try Self.write(f.root + "/big.bin", bytes)
        try Self.write(f.root + "/small.bin", Array(bytes.prefix(1000)))
        _ = try f.commit()
        let hash = try #require(try f.context.index.entry(RelativePath("big.bin"))?.hash)
        let folder = f.context.folder.id.rawValue
        let links = InviteTests()
        var answers: [Message] = []
        try links.link(f, FolderServer(state: f.state, peer: HostilePeerTestsPeer.id)) { s in
            for asked in [folder, FolderID.random().rawValue] {
                answers.append(try links.ask(s) { .manifestRequest(id: $0, folder: asked, path: "big.bin", hash: hash) })
            }
        }
        // The same bytes after the type and the request id.
        #expect(answers.count == 2 && Array(answers[0].encoded().dropFirst(5)) == Array(answers[1].encoded().dropFirst(5)))
        guard case .error(_, .notFound, _) = answers.first else { Issue.record("\(answers)"); return }

        let peer = try NodeIdentity.loadOrCreate(in: f.base + "/peer")
        try FolderAccess.allow(PeerKey(line: peer.publicKeyLine), for: f.context.folder)
        try links.link(f, FolderServer(state: f.state, peer: peer.id)) { s in
            let id = s.newRequestID()
            try s.send(.manifestRequest(id: id, folder: folder, path: "big.bin", hash: hash))
            var sent: [UInt8] = []
            while case .data(_, let piece) = try s.next(for: id) { sent += piece }
            let m = try #require(ChunkManifest(decoding: sent, size: Int64(bytes.count)))
            #expect(m.form == .sent && m == ChunkManifest(decoding: ChunkManifestTests.manifest(bytes).encoded(.sent), size: Int64(bytes.count)))
            let other = try links.ask(s) { .manifestRequest(id: $0, folder: folder, path: "big.bin", hash: String(repeating: "0", count: 40)) }
            guard case .error(_, .changed, _) = other else { Issue.record("\(other)"); return }
            let small = try #require(try f.context.index.entry(RelativePath("small.bin"))?.hash)
            let none = try links.ask(s) { .manifestRequest(id: $0, folder: folder, path: "small.bin", hash: small) }
            guard case .error(_, .failed, _) = none else { Issue.record("\(none)"); return }
            let outside = try links.ask(s) { .manifestRequest(id: $0, folder: folder, path: "../big.bin", hash: hash) }
            guard case .error(_, .badRequest, _) = outside else { Issue.record("\(outside)"); return }
        }
    }
}
