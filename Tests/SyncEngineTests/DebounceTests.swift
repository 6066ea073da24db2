import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

@Suite struct DebounceTests {
    @Test func waitsForQuietButNotLongerThanTheMaximum() {
        let d = Debounce(quiet: 0.2, maxDelay: 2)
        #expect(d.deadline(first: 0, last: 0) == 0.2)
        #expect(d.deadline(first: 0, last: 1) == 1.2)
        #expect(d.deadline(first: 0, last: 1.9) == 2)
        #expect(d.deadline(first: 0, last: 5) == 2)
        #expect(Debounce(quiet: 3, maxDelay: 1).deadline(first: 0, last: 0) == 3)
    }
}
