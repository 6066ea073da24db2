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
}
