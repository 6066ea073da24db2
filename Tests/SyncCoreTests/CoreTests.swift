import Foundation
import Testing
@testable import SyncCore

@Suite struct RelativePathTests {
    @Test func acceptsOrdinaryNames() throws {
        let p = try RelativePath("a b/ü/c\nd.txt")
        #expect(p.name == "c\nd.txt")
        #expect(p.parent?.rawValue == "a b/ü")
        #expect(p.ancestors.map(\.rawValue) == ["a b", "a b/ü"])
    }

    @Test(arguments: ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", "a\0b", ".."])
    func refusesPathsThatLeaveTheFolder(_ s: String) {
        #expect(throws: SyncError.self) { try RelativePath(s) }
    }

    @Test func withinIsByComponent() throws {
        #expect(try RelativePath("a/b").isWithin(RelativePath("a")))
        #expect(try !RelativePath("ab").isWithin(RelativePath("a")))
    }
}

@Suite struct VersionVectorTests {
    let a = try! NodeID(String(repeating: "a", count: 52))
    let b = try! NodeID(String(repeating: "b", count: 52))

    @Test func ordersByDomination() {
        let v0 = VersionVector()
        let va = v0.bumped(by: a)
        let vb = v0.bumped(by: b)
        #expect(va.compare(v0) == .newer)
        #expect(v0.compare(va) == .older)
        #expect(va.compare(vb) == .concurrent)
        #expect(va.compare(va) == .equal)
        let merged = va.merged(with: vb)
        #expect(merged.compare(va) == .newer && merged.compare(vb) == .newer)
    }

    @Test func storageFormRoundTrips() throws {
        let v = VersionVector().bumped(by: a).bumped(by: a).bumped(by: b)
        #expect(try VersionVector(parsing: v.description) == v)
        #expect(throws: SyncError.self) { try VersionVector(parsing: "zz:1") }
    }
}

@Suite struct PathQuotingTests {
    @Test(arguments: ["plain.txt", "with space", "new\nline", "tab\there", "quote\"d", "back\\slash", " lead", "trail ",
                      "ctl\u{1}x", "ünïcödé"])
    func roundTrips(_ s: String) {
        let q = PathQuoting.quote(s)
        #expect(!q.contains("\n") && !q.contains("\t"))
        #expect(PathQuoting.unquote(Substring(q)) == s)
    }

    @Test func leavesPlainNamesAlone() {
        #expect(PathQuoting.quote("a b/ü.txt") == "a b/ü.txt")
        #expect(PathQuoting.quote("a\nb") == "\"a\\nb\"")
    }

    @Test func rejectsMalformedQuoting() {
        #expect(PathQuoting.unquote("\"abc") == nil)
        #expect(PathQuoting.unquote("\"a\\qb\"") == nil)
    }
}

@Suite struct IgnoreMatcherTests {
    func ignored(_ patterns: [String], _ path: String, dir: Bool = false) -> Bool {
        IgnoreMatcher(lines: patterns).isIgnored(try! RelativePath(path), isDirectory: dir)
    }

    @Test func matchesNamesAtAnyDepth() {
        #expect(ignored(["*.tmp"], "a.tmp"))
        #expect(ignored(["*.tmp"], "x/y/a.tmp"))
        #expect(!ignored(["*.tmp"], "a.tmp.txt"))
    }

    @Test func anchorsPatternsWithASlash() {
        #expect(ignored(["/build"], "build", dir: true))
        #expect(!ignored(["/build"], "src/build", dir: true))
        #expect(ignored(["doc/*.html"], "doc/a.html"))
        #expect(!ignored(["doc/*.html"], "doc/x/a.html"))
    }

    @Test func doubleStarCrossesDirectories() {
        #expect(ignored(["**/cache"], "a/b/cache", dir: true))
        #expect(ignored(["logs/**"], "logs/a/b.txt"))
        #expect(ignored(["a/**/z"], "a/z"))
        #expect(ignored(["a/**/z"], "a/b/c/z"))
    }

    @Test func negationAndDirectoryOnly() {
        #expect(!ignored(["*.log", "!keep.log"], "keep.log"))
        #expect(ignored(["node_modules/"], "node_modules", dir: true))
        #expect(!ignored(["node_modules/"], "node_modules", dir: false))
        #expect(ignored(["node_modules/"], "node_modules/x/y.js"))
        #expect(ignored(["[abc]?.txt"], "b1.txt"))
        #expect(!ignored(["[!abc]?.txt"], "b1.txt"))
        #expect(!ignored(["# comment", ""], "# comment"))
    }
}

@Suite struct UnitsTests {
    @Test func parsesDurationsAndSizes() {
        #expect(Units.duration("200ms") == 0.2)
        #expect(Units.duration("2s") == 2)
        #expect(Units.duration("90d") == Double(90 * 86400))
        #expect(Units.duration("soon") == nil)
        #expect(Units.duration("-1s") == nil)
        #expect(Units.size("16M") == 16 << 20)
        #expect(Units.size("1GiB") == 1 << 30)
        #expect(Units.size("12") == 12)
        #expect(Units.size("big") == nil)
        #expect(Units.size("99999999999999T") == nil)
    }
}

@Suite struct FolderConfigTests {
    @Test func setsChecksAndRoundTrips() throws {
        var c = FolderConfig(path: "/data")
        try c.set("debounce.quiet", "500ms")
        try c.add("ignore", "*.tmp")
        try c.add("ignore", "build/")
        #expect(c.quietPeriod == 0.5)
        #expect(c.ignorePatterns == ["*.tmp", "build/"])
        let back = try FolderConfig(parsing: c.text, file: "config")
        #expect(back == c)
        #expect(throws: SyncError.invalidConfigKey("nope")) { try c.set("nope", "1") }
        #expect(throws: SyncError.readOnlyConfigKey("path")) { try c.set("path", "/x") }
        #expect(throws: SyncError.self) { try c.set("history.max-blob", "huge") }
        try c.unset("ignore", value: "*.tmp")
        #expect(c.ignorePatterns == ["build/"])
        #expect(c.maxBlob == 16 << 20)
    }
}

@Suite struct FolderIndexTests {
    @Test func recordsChangesWithGrowingSequences() throws {
        let dir = try TemporaryDirectory()
        let index = try FolderIndex(path: dir.path + "/index.db")
        let node = try NodeID(String(repeating: "c", count: 52))
        let a = FileEntry(path: try RelativePath("a"), kind: .file, hash: String(repeating: "0", count: 40), size: 3,
                          version: VersionVector().bumped(by: node))
        let b = FileEntry(path: try RelativePath("d/b"), kind: .file, hash: String(repeating: "1", count: 40), size: 4,
                          version: VersionVector().bumped(by: node))
        #expect(try index.record(changes: [a, b], commit: "c1") == 2)
        #expect(try index.sequence() == 2)
        #expect(try index.entry(RelativePath("d/b"))?.sequence == 2)
        var a2 = a
        a2.deleted = true
        #expect(try index.record(changes: [a2], commit: "c2") == 3)
        #expect(try index.entries(since: 2).map(\.path.rawValue) == ["a"])
        #expect(try index.totals().files == 1)
        #expect(try index.meta("commit") == "c2")
        #expect(try index.entries(under: RelativePath("d")).count == 1)
        // Reopened, it holds the same.
        let again = try FolderIndex(path: dir.path + "/index.db")
        #expect(try again.allEntries().count == 2)
    }
}

@Suite struct NodeIdentityTests {
    @Test func createsAnOpenSSHKeyPairOnce() throws {
        let dir = try TemporaryDirectory()
        let id1 = try NodeIdentity.loadOrCreate(in: dir.path + "/node")
        let id2 = try NodeIdentity.loadOrCreate(in: dir.path + "/node")
        #expect(id1.id == id2.id)
        #expect(id1.publicKeyLine.hasPrefix("ssh-ed25519 AAAA"))
        var st = stat()
        stat(id1.privateKeyPath, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        // OpenSSH itself reads the private key and derives the same public key and fingerprint.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen") {
            let derived = try run("/usr/bin/ssh-keygen", ["-y", "-f", id1.privateKeyPath])
            #expect(derived.split(separator: " ").prefix(2) == id1.publicKeyLine.split(separator: " ").prefix(2))
            let fp = try run("/usr/bin/ssh-keygen", ["-l", "-f", id1.publicKeyPath])
            #expect(fp.contains(id1.fingerprint))
        }
    }

    func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A directory removed when the value goes away.
final class TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "sync-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
