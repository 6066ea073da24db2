import Foundation
import Testing
@testable import SyncCore

@Suite struct VersionVectorTests {
    let a = try! NodeID(String(repeating: "a", count: 52))
    let b = try! NodeID(String(repeating: "b", count: 52))

    @Test func ordersByDomination() {
        let v0 = VersionVector()
        let va = v0.bumped(by: a)
        let vb = v0.bumped(by: b)
        #expect(va.compare(v0) == .newer)
        #expect(v0.compare(va) == .older)
        #expect(va.compare(vb) == .concurrent)
        #expect(va.compare(va) == .equal)
        let merged = va.merged(with: vb)
        #expect(merged.compare(va) == .newer && merged.compare(vb) == .newer)
    }

    @Test func storageFormRoundTrips() throws {
        let v = VersionVector().bumped(by: a).bumped(by: a).bumped(by: b)
        #expect(try VersionVector(parsing: v.description) == v)
        #expect(throws: SyncError.self) { try VersionVector(parsing: "zz:1") }
    }
}
