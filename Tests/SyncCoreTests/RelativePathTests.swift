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

    /// The bounds on bytes, at both ends: a component of 255 bytes and a path of 4,096 pass, one
    /// byte more does not (a two-byte character counts two); names with dots that are not "." or
    /// ".." pass.
    @Test func lengthsAreBoundedInBytes() throws {
        let wide = String(repeating: "\u{e9}", count: 127) // 254 bytes
        #expect(try RelativePath(wide + "a").rawValue.utf8.count == 255)
        #expect(throws: SyncError.self) { try RelativePath(wide + "ab") }
        #expect(throws: SyncError.self) { try RelativePath("d/" + wide + "\u{e9}") }
        // Short components, so that only the whole length is over: 16 × 241 + 239 = 4,095 bytes.
        let path = Array(repeating: String(repeating: "x", count: 240), count: 16).joined(separator: "/")
            + "/" + String(repeating: "y", count: 239)
        #expect(try RelativePath(path + "y").rawValue.utf8.count == 4096)
        #expect(throws: SyncError.self) { try RelativePath(path + "yz") }
        for ok in [".a", "a.", "...", "a/.b", "..a/b.."] { #expect(try RelativePath(ok).rawValue == ok) }
    }

    /// Components are split on '/' bytes, even where a Swift character joins the '/' to a mark.
    @Test func componentsAreSplitOnBytes() throws {
        let p = try RelativePath("a/\u{338}b")
        #expect(p.components == ["a", "\u{338}b"])
        #expect(p.name == "\u{338}b")
        #expect(p.parent?.rawValue == "a")
        #expect(p.isWithin(try RelativePath("a")))
        #expect(try RelativePath("p\u{600}/y").parent?.rawValue == "p\u{600}")
        #expect(throws: SyncError.self) { try RelativePath("a/\u{338}/..") }
        #expect(throws: SyncError.self) { try RelativePath("a//\u{338}") }
    }

    @Test func withinIsByComponent() throws {
        #expect(try RelativePath("a/b").isWithin(RelativePath("a")))
        #expect(try !RelativePath("ab").isWithin(RelativePath("a")))
    }
}
