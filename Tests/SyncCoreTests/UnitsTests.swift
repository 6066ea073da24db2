import Foundation
import Testing
@testable import SyncCore

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

    @Test func durationsForPeopleTakeAnyNumber() {
        #expect(Units.formatDuration(0) == "0 s")
        #expect(Units.formatDuration(44.6) == "45 s")
        #expect(Units.formatDuration(200) == "3 min 20 s")
        #expect(Units.formatDuration(3600) == "1 h")
        #expect(Units.formatDuration(7500) == "2 h 5 min")
        #expect(Units.formatDuration(3 * 86400 + 4 * 3600 + 59) == "3 d 4 h")
        #expect(Units.formatDuration(-5) == "0 s")
        #expect(Units.formatDuration(.nan) == "0 s")
        #expect(Units.formatDuration(.infinity) == "370370370 d 8 h")
        #expect(Units.formatDuration(1e300) == "370370370 d 8 h")
    }
}
