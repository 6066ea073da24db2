import Foundation
import Testing

/// What a power loss may leave of a folder's history: every object and pack a commit names must be
/// on disk, name included, before the branch names the commit. Watched with strace, since nothing
/// else tells whether a file reached the disk.
@Suite(.serialized) struct DurabilityTests {
    /// One placing of a file under history.git: the temporary it came from, and where it went.
    struct Placement { let from: String; let to: String; let line: Int }

    /// Runs `command` under strace for `calls`, with the node's environment; the calls made, in
    /// the order they began, without their times. One file per thread (-ff), merged by time: in
    /// one file, calls of several threads at once are cut into "unfinished" and "resumed" halves.
    static func traced(_ node: Node, _ command: String, calls: String) throws -> (Outcome, [String]) {
        let dir = node.base + "/trace-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try node.sh("strace -ff -ttt -qq -y -o '\(dir)/t' -e trace=\(calls) \(command)")
        var timed: [(Double, String)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            for line in try String(contentsOfFile: dir + "/" + name, encoding: .utf8).split(separator: "\n") {
                guard let space = line.firstIndex(of: " "), let t = Double(line[..<space]) else { continue }
                timed.append((t, String(line[line.index(after: space)...])))
            }
        }
        return (r, timed.sorted { $0.0 < $1.0 }.map(\.1))
    }

    /// One call of a trace that succeeded: its name, the paths of its descriptors (-y writes one
    /// as "7</path>") and its quoted strings, each in order. Nil for a call that failed.
    struct Call {
        let name: String
        let descriptors: [String]
        let strings: [String]

        init?(_ line: String) {
            guard let open = line.firstIndex(of: "("), let result = line.range(of: ") = ", options: .backwards),
                  !line[result.upperBound...].hasPrefix("-") else { return nil }
            name = line[..<open].split(separator: " ").last.map(String.init) ?? ""
            var descriptors: [String] = [], strings: [String] = [], current = ""
            var inString = false, inPath = false, escaped = false
            for c in line[line.index(after: open)..<result.lowerBound] {
                if inString {
                    if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" {
                        strings.append(current); current = ""; inString = false; continue
                    }
                    current.append(c)
                } else if inPath {
                    if c == ">" { descriptors.append(current); current = ""; inPath = false } else { current.append(c) }
                } else if c == "\"" {
                    inString = true
                } else if c == "<" {
                    inPath = true
                }
            }
            self.descriptors = descriptors
            self.strings = strings
        }
    }

    /// What a trace of fsync, fdatasync, link and rename calls says: the paths made durable (with
    /// the line), and the files put in place under `root`.
    static func read(_ trace: [String], under root: String) -> (synced: [String: [Int]], placed: [Placement]) {
        var synced: [String: [Int]] = [:]
        var placed: [Placement] = []
        for (n, line) in trace.enumerated() {
            guard let call = Call(line) else { continue }
            if call.name == "fsync" || call.name == "fdatasync", let p = call.descriptors.first {
                synced[p, default: []].append(n)
            } else if call.name == "link" || call.name == "rename", call.strings.count == 2, call.strings[1].hasPrefix(root) {
                placed.append(Placement(from: call.strings[0], to: call.strings[1], line: n))
            }
        }
        return (synced, placed)
    }

    @Test func historyIsOnDiskBeforeTheBranchNamesIt() throws {
        #expect(have("strace"), "strace is needed: bin/setup --with-test-deps installs it")
        guard have("strace") else { return }
        let node = try Node()
        let (a, aid) = try node.folder("a")
        let history = node.historyDirectory(aid)
        // Each way a commit stores content: a pack (many small files), loose objects of libgit2
        // (a few small files, compressible big ones), our own stored objects (incompressible big).
        for i in 0..<80 { try node.write(a + "/many/\(i)", "small file \(i)\n") }
        try node.write(a + "/text", String(repeating: "a line of text, compressible\n", count: 80_000))
        var random = SystemRandomNumberGenerator()
        try Data((0..<(2 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
            .write(to: URL(fileURLWithPath: a + "/random"))
        for round in 0..<2 {
            if round == 1 {
                try node.write(a + "/few/one", "one\n")
                try node.write(a + "/text", String(repeating: "another line of text\n", count: 90_000))
                try Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
                    .write(to: URL(fileURLWithPath: a + "/random"))
            }
            let (r, trace) = try Self.traced(node, "sync-commit \(aid)", calls: "fsync,fdatasync,link,rename")
            try #require(r.status == 0, "\(r)")
            let (synced, placed) = Self.read(trace, under: history + "/")
            let branch = placed.last { $0.to == history + "/refs/heads/main" }
            let moved = try #require(branch, "round \(round): the branch was not moved by a rename")
            let objects = placed.filter { $0.to.hasPrefix(history + "/objects/") }
            #expect(objects.contains { $0.to.hasSuffix(".pack") } == (round == 0), "round \(round): \(objects.map(\.to))")
            #expect(objects.count >= 4, "round \(round): \(objects.map(\.to))")
            for p in placed where p.line <= moved.line {
                let dir = (p.to as NSString).deletingLastPathComponent
                let before = synced[p.from, default: []].contains { $0 < p.line }
                #expect(before, "round \(round): \(p.to) was put in place before its contents were synced")
                let limit = p.to == moved.to ? Int.max : moved.line
                let named = synced[dir, default: []].contains { $0 > p.line && $0 < limit }
                #expect(named, "round \(round): the directory of \(p.to) was not synced after it was put there")
            }
        }
        let fsck = try node.git(aid, "fsck --strict")
        #expect(fsck.status == 0, "\(fsck)")
    }

    /// What a pull leaves on disk before it says so: each file put into the folder was synced
    /// after its last write and before its rename (an fsync of its own, or one syncfs for a
    /// window of many), and each directory a file was put into is synced before the index
    /// records the batch. A few small files, many (one syncfs), a big one whole, then a delta.
    @Test(.enabled(if: PeerNode.available)) func aPulledFileIsOnDiskBeforeItIsRecorded() throws {
        #expect(have("strace"), "strace is needed: bin/setup --with-test-deps installs it")
        guard have("strace") else { return }
        let a = try PeerNode(), b = try PeerNode()
        let (pa, id) = try a.node.folder("shared")
        let pb = try b.join("shared", id: id)
        try a.allow(b, id)
        try b.allow(a, id)
        for round in 0..<2 {
            let small = round == 0 ? 0..<5 : 5..<25 // up to 8 files: an fsync each; more: one syncfs
            try a.node.sh("""
                cd '\(pa)' && mkdir -p s && for i in \(small.map(String.init).joined(separator: " ")); do echo "small $i" > s/$i; done && \
                \(round == 0 ? "head -c 3000000 /dev/urandom > big" : "printf edit | dd of=big bs=1 seek=1000000 conv=notrunc 2>/dev/null")
                """)
            #expect(try a.commit(pa).status == 0)
            let (r, lines) = try Self.traced(b.node, "sync-pull --no-offer '\(a.remote(id))'",
                                             calls: "write,pwrite64,writev,copy_file_range,fsync,fdatasync,syncfs,renameat2,renameat,rename")
            try #require(r.status == 0, "\(r)")
            var lastWrite: [String: Int] = [:], synced: [String: [Int]] = [:], syncfs: [Int] = [], wal: [Int] = []
            var placed: [(dir: String, from: String, to: String, line: Int)] = []
            for (n, line) in lines.enumerated() {
                guard let call = Call(line) else { continue }
                switch call.name {
                case "write", "pwrite64", "writev", "copy_file_range": if let p = call.descriptors.first { lastWrite[p] = n }
                case "fsync", "fdatasync":
                    if let p = call.descriptors.first { synced[p, default: []].append(n); if p.hasSuffix("/index.db-wal") { wal.append(n) } }
                case "syncfs": syncfs.append(n)
                case "renameat2", "renameat":
                    // dirfd<dir>, "from", dirfd<dir>, "to"
                    guard call.descriptors.count == 2, call.strings.count == 2, call.descriptors[0].hasPrefix(pb) else { continue }
                    let (dir, toDir) = (call.descriptors[0], call.descriptors[1])
                    placed.append((toDir, dir + "/" + call.strings[0], toDir + "/" + call.strings[1], n))
                default: continue
                }
            }
            let files = placed.filter { ($0.from as NSString).lastPathComponent.hasPrefix(".sync-tmp-") }
            #expect(files.count == small.count + 1, "round \(round): \(placed.map(\.to))")
            for f in files {
                let written = lastWrite[f.from] ?? -1
                let durable = synced[f.from, default: []].contains { $0 > written && $0 < f.line }
                    || syncfs.contains { $0 > written && $0 < f.line }
                #expect(durable, "round \(round): \(f.to) was renamed before its content was synced")
                let recorded = wal.first { $0 > f.line } ?? Int.max
                #expect(synced[f.dir, default: []].contains { $0 > f.line && $0 < recorded },
                        "round \(round): \(f.dir) was not synced between placing \(f.to) and recording it")
            }
            #expect((round == 0) == syncfs.isEmpty, "round \(round): a syncfs only for a window of more than 8 files")
        }
        #expect(try contents(pb) == contents(pa))
    }
}
