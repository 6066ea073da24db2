import Foundation
import Testing
@testable import SyncGit

@Suite struct HistoryRepositoryTests {
    let dir = NSTemporaryDirectory() + "sync-git-" + UUID().uuidString

    func repo() throws -> HistoryRepository {
        try HistoryRepository.create(at: dir + "/h.git", worktree: dir + "/w")
    }

    /// git itself agrees the repository is sound (where git is installed).
    func expectFsckClean() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else { return }
        let fsck = Process()
        fsck.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        fsck.arguments = ["--git-dir", dir + "/h.git", "fsck", "--strict", "--no-dangling"]
        try fsck.run()
        fsck.waitUntilExit()
        #expect(fsck.terminationStatus == 0)
    }

    @Test func commitsTreesWithFilesLinksAndEmptyDirectories() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try repo()
        #expect(try r.head() == nil)
        let a = try r.writeBlob(Array("hello\n".utf8))
        #expect(a.hex == "ce013625030ba8dba906f756967f9e9ca394464a") // git hash-object of "hello\n"
        let link = try r.writeBlob(Array("a.txt".utf8))
        let empty = try r.emptyTree()
        let t1 = try r.tree(from: nil, applying: [
            .upsert(path: "d/a.txt", id: a, mode: .file),
            .upsert(path: "run.sh", id: a, mode: .executable),
            .upsert(path: "l", id: link, mode: .symlink),
            .upsert(path: "e", id: empty, mode: .directory),
        ])
        let c1 = try r.commit(tree: t1, parent: nil, message: "one\n", author: "n", email: "n@sync")
        #expect(try r.head() == c1)
        #expect(try r.entry(inCommit: c1, path: "run.sh")?.mode == .executable)
        #expect(try r.entry(inCommit: c1, path: "e")?.mode == .directory)
        var seen: [String] = []
        try r.walk(tree: t1) { p, _, _ in seen.append(p) }
        #expect(seen.sorted() == ["d/a.txt", "e", "l", "run.sh"])

        // Removing the last file of a directory drops it; removing what is not there is no error.
        let t2 = try r.tree(from: t1, applying: [.remove(path: "d/a.txt"), .remove(path: "nothing/here")])
        #expect(try r.entry(inTree: t2, path: "d") == nil)
        // A file replaced by a directory and a directory replaced by a file.
        let t3 = try r.tree(from: t2, applying: [.remove(path: "run.sh"), .upsert(path: "run.sh/x", id: a, mode: .file),
                                                 .remove(path: "e"), .upsert(path: "e", id: a, mode: .file)])
        #expect(try r.entry(inTree: t3, path: "run.sh/x") != nil)
        #expect(try r.entry(inTree: t3, path: "e")?.mode == .file)
        // A directory with a file in it becomes a file, given only as "remove the file, add the path".
        let t4 = try r.tree(from: t3, applying: [.remove(path: "run.sh/x"), .upsert(path: "run.sh", id: a, mode: .file)])
        #expect(try r.entry(inTree: t4, path: "run.sh")?.mode == .file)
        // And a file becomes a directory, given only as "add below it".
        let t5 = try r.tree(from: t4, applying: [.upsert(path: "run.sh/y", id: a, mode: .file)])
        #expect(try r.entry(inTree: t5, path: "run.sh/y") != nil)
        let c2 = try r.commit(tree: t3, parent: c1, message: "two\n", author: "n", email: "n@sync")
        var log: [String] = []
        try r.log { log.append($0.message); return true }
        #expect(log == ["two\n", "one\n"])
        #expect(try r.resolve("main~1") == c1)
        #expect(try r.resolve(String(c2.hex.prefix(10))) == c2)
        #expect(throws: GitError.self) { try r.resolve("nope") }
        #expect(try r.blob(a) == Array("hello\n".utf8))
    }

    @Test func hashesFilesAsGitDoes() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try repo()
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: dir + "/f"))
        #expect(try HistoryRepository.hashFile(dir + "/f").hex == "ce013625030ba8dba906f756967f9e9ca394464a")
        #expect(try r.writeBlob(fromFile: dir + "/f").hex == "ce013625030ba8dba906f756967f9e9ca394464a")
        #expect(r.contains(try ObjectID(hex: "ce013625030ba8dba906f756967f9e9ca394464a")))
        #expect(throws: GitError.self) { try HistoryRepository.hashFile(dir + "/missing") }
    }

    /// Content that would not shrink is stored uncompressed; git and libgit2 read it as any object.
    @Test func incompressibleFilesAreStoredUncompressedAndReadBack() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try repo()
        var rng = SystemRandomNumberGenerator()
        // Sizes around the stored block size and the read buffer, and one with a text tail.
        for (i, size) in [300_000, 65535 * 16, 65535 * 16 + 1, 2_500_001].enumerated() {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let file = dir + "/f\(i)"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let id = try r.writeBlob(fromFile: file)
            #expect(id == HistoryRepository.hash(bytes))
            #expect(try r.blob(id) == bytes)
            let object = dir + "/h.git/objects/" + id.hex.prefix(2) + "/" + id.hex.dropFirst(2)
            let stored = (try FileManager.default.attributesOfItem(atPath: object)[.size] as? Int) ?? 0
            #expect(stored > size && stored < size + size / 1000 + 64, "\(stored) for \(size)")
            // Writing it again changes nothing.
            #expect(try r.writeBlob(fromFile: file) == id)
        }
        // Compressible content still goes through zlib.
        let text = Array(String(repeating: "a line of text\n", count: 40_000).utf8)
        try Data(text).write(to: URL(fileURLWithPath: dir + "/text"))
        let t = try r.writeBlob(fromFile: dir + "/text")
        let object = dir + "/h.git/objects/" + t.hex.prefix(2) + "/" + t.hex.dropFirst(2)
        #expect(((try FileManager.default.attributesOfItem(atPath: object)[.size] as? Int) ?? 0) < text.count / 10)
        try expectFsckClean()
    }

    /// A blob written as its bytes go by, in pieces of any size, is the object git would make of
    /// them; more bytes than announced, or fewer, store nothing and leave nothing behind.
    @Test func aBlobWrittenInPiecesIsTheContentsBlob() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try repo()
        var rng = SystemRandomNumberGenerator()
        // Sizes around the stored block size and the sink's write size, and none at all.
        for size in [0, 1, 65535 - 11, 65535, 65536, 65535 * 16 + 7, (1 << 20) + 3, 2_500_001] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let sink = try r.blobSink(size: Int64(size))
            var at = 0
            while at < size {
                let n = min(size - at, Int.random(in: 1...200_000, using: &rng))
                try bytes[at..<(at + n)].withUnsafeBytes { try sink.append($0) }
                at += n
            }
            let id = HistoryRepository.hash(bytes)
            try sink.finish(as: id)
            #expect(try r.blob(id) == bytes, "\(size) bytes")
            // The same content again: the object there is kept.
            let again = try r.blobSink(size: Int64(size))
            try bytes.withUnsafeBytes { try again.append($0) }
            try again.finish(as: id)
        }
        let three: [UInt8] = [1, 2, 3]
        let long = try r.blobSink(size: 2)
        #expect(throws: GitError.self) { try three.withUnsafeBytes { try long.append($0) } }
        let short = try r.blobSink(size: 4)
        try three.withUnsafeBytes { try short.append($0) }
        #expect(throws: GitError.self) { try short.finish(as: HistoryRepository.hash(three)) }
        _ = (long, short)
        try expectFsckClean()
    }

    /// A sink let go unfinished removes its temporary file.
    @Test func anUnfinishedBlobLeavesNothing() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try repo()
        do {
            let sink = try r.blobSink(size: 100_000)
            try [UInt8](repeating: 7, count: 50_000).withUnsafeBytes { try sink.append($0) }
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/h.git/objects").filter { $0.hasPrefix("tmp_") }
        #expect(left.isEmpty, "\(left)")
    }

    /// A blob written this way is made durable and then leaves the page cache: none of its pages
    /// is resident once it is stored (without the drop, all of them were: checked).
    @Test func aStoredBlobLeavesThePageCache() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try repo()
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let sink = try r.blobSink(size: Int64(bytes.count))
        try bytes.withUnsafeBytes { try sink.append($0) }
        let id = HistoryRepository.hash(bytes)
        try sink.finish(as: id)
        let path = dir + "/h.git/objects/" + id.hex.prefix(2) + "/" + id.hex.dropFirst(2)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        let size = Int(st.st_size)
        let map = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(map, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = [UInt8](repeating: 0, count: (size + page - 1) / page)
        #expect(mincore(map, size, &resident) == 0)
        #expect(resident.filter { $0 & 1 == 1 }.count == 0)
        #expect(try r.blob(id) == bytes)
    }
}
