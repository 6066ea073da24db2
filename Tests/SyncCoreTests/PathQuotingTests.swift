import Foundation
import Testing
@testable import SyncCore

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
