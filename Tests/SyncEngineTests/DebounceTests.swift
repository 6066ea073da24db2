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

    @Test func aLoneChangeWaitsOnlyForTheEventsThatBelongWithIt() {
        let d = Debounce(quiet: 0.2, maxDelay: 2)
        let settle = Debounce.settle
        // Lone: committed once the settling time after its first event is over.
        #expect(d.deadline(first: 10, last: 10, lone: true) == 10 + settle)
        #expect(d.deadline(first: 10, last: 10 + settle / 2, lone: true) == 10 + settle)
        // Going on past the settling time: a burst, debounced as before.
        #expect(d.deadline(first: 10, last: 10 + settle * 2, lone: true) == d.deadline(first: 10, last: 10 + settle * 2))
        // Not lone (after other changes, or with a file still open): the quiet period.
        #expect(d.deadline(first: 10, last: 10, lone: false) == 10.2)
        // A quiet period shorter than the settling time is not lengthened.
        #expect(Debounce(quiet: 0.005, maxDelay: 2).deadline(first: 0, last: 0, lone: true) == 0.005)
    }
}
