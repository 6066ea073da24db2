import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

@Suite struct WatchEventTests {
    @Test func linesRoundTripAndOddNamesStayOnOneLine() throws {
        let odd = try RelativePath("dir/with\nnewline\tand tab é")
        let line = WatchEvent.change(odd).line
        #expect(!line.contains("\n"))
        #expect(WatchEvent(line: Substring(line)) == .change(odd))
        #expect(WatchEvent(line: "rescan") == .rescan)
        #expect(WatchEvent(line: "change ../etc") == nil)
    }
}
