import Foundation
import Testing
@testable import SyncCommands

/// The times `sync log --since/--until` and `sync restore --at` accept, in one reader.
@Suite struct TimeFormTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func wordsAndLettersAgoAreTheSame() {
        for (text, seconds) in [("3m ago", 180.0), ("3 min ago", 180), ("3 minutes ago", 180), ("1 minute ago", 60),
                                ("2 hours ago", 7200), ("2h ago", 7200), ("2 days ago", 172_800), ("1 week ago", 604_800),
                                ("10 seconds ago", 10), ("10 secs ago", 10)] {
            #expect(parseTime(text, now: now) == now.addingTimeInterval(-seconds), "\(text)")
        }
        #expect(parseTime("yesterday", now: now) == now.addingTimeInterval(-86400))
        #expect(parseTime("now", now: now) == now)
        #expect(parseTime("@1700000000", now: now) == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func whatIsNoTimeIsNil() {
        for text in ["3 parsecs ago", "ago", "-3m ago", "tomorrow", "HEAD~2", "3f2a1c9"] {
            #expect(parseTime(text, now: now) == nil, "\(text)")
        }
    }
}
