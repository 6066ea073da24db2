import Foundation
import Testing

/// What a power loss may leave of a folder's history: every object and pack a commit names must be
/// on disk, name included, before the branch names the commit. Watched with strace, since nothing
/// else tells whether a file reached the disk.
@Suite struct DurabilityTests {
    /// One placing of a file under history.git: the temporary it came from, and where it went.
    struct Placement { let from: String; let to: String; let line: Int }

    /// What a trace of fsync, fdatasync, link and rename calls says: the paths made durable (with
    /// the line), and the files put in place under `root`.
    static func read(_ trace: String, under root: String) -> (synced: [String: [Int]], placed: [Placement]) {
        var synced: [String: [Int]] = [:]
        var placed: [Placement] = []
        for (n, line) in trace.split(separator: "\n").enumerated() {
            // "PID call(args) = result"; -y writes a descriptor as "7</path>".
            guard let open = line.firstIndex(of: "("), line.hasSuffix("= 0") else { continue }
            let call = line[..<open].split(separator: " ").last.map(String.init) ?? ""
            let args = line[line.index(after: open)...]
            if call == "fsync" || call == "fdatasync" {
                guard let lt = args.firstIndex(of: "<"), let gt = args.lastIndex(of: ">") else { continue }
                synced[String(args[args.index(after: lt)..<gt]), default: []].append(n)
            } else if call == "link" || call == "rename" {
                let quoted = args.split(separator: "\"", omittingEmptySubsequences: false)
                guard quoted.count >= 4 else { continue }
                let from = String(quoted[1]), to = String(quoted[3])
                if to.hasPrefix(root) { placed.append(Placement(from: from, to: to, line: n)) }
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
        let trace = node.base + "/trace"
        for round in 0..<2 {
            if round == 1 {
                try node.write(a + "/few/one", "one\n")
                try node.write(a + "/text", String(repeating: "another line of text\n", count: 90_000))
                try Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
                    .write(to: URL(fileURLWithPath: a + "/random"))
            }
            let r = try node.sh("""
                strace -f -qq -y -o '\(trace)' -e trace=fsync,fdatasync,link,rename sync-commit \(aid)
                """)
            try #require(r.status == 0, "\(r)")
            let (synced, placed) = Self.read(try String(contentsOfFile: trace, encoding: .utf8), under: history + "/")
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
}
