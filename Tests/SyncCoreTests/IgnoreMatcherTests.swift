import Foundation
import Testing
@testable import SyncCore

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
