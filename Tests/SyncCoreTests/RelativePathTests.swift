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
