import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport

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

    /// The storage form exactly: what is not one is refused, from a peer or from the index.
    @Test func onlyTheStorageFormParses() throws {
        let (na, nb) = (a.rawValue, b.rawValue)
        #expect(try VersionVector(parsing: "") == VersionVector())
        #expect(try VersionVector(parsing: "\(na):0") == VersionVector())
        #expect(try VersionVector(parsing: "\(na):007,\(nb):18446744073709551615").counters == [na: 7, nb: .max])
        #expect(try VersionVector(parsing: "\(na):1,\(na):2").counters == [na: 2])
        for bad in [",", "\(na):1,", ",\(na):1", "\(na):1,,\(nb):1", "\(na)::1", "\(na):", "\(na):+1", "\(na):-1",
                    "\(na):1 ", " \(na):1", "\(na):18446744073709551616", "\(na):99999999999999999999999",
                    "\(na.dropLast()):1", "\(na)a:1", "\(na.uppercased()):1", "\(na.dropLast())1:1", "\(na):1:2",
                    "\(na)\u{0}:1", "\(na):1\u{0}", "\(na):١"] {
            #expect(throws: SyncError.self, "\(bad)") { try VersionVector(parsing: bad) }
        }
        #expect(throws: SyncError.self) { try VersionVector(parsing: "\(na):\(VersionVector.peerLimit + 1)", fromPeer: true) }
        #expect(try VersionVector(parsing: "\(na):\(VersionVector.peerLimit)", fromPeer: true).counters[na] == VersionVector.peerLimit)
        let many = (0...VersionVector.peerMaxNodes).map { i in
            Base32.encode([UInt8(i & 0xff), UInt8(i >> 8)] + Array(repeating: 0, count: 30)) + ":1"
        }
        #expect(try VersionVector(parsing: many.dropLast().joined(separator: ","), fromPeer: true).counters.count == VersionVector.peerMaxNodes)
        #expect(throws: SyncError.self) { try VersionVector(parsing: many.joined(separator: ","), fromPeer: true) }
        #expect(try VersionVector(parsing: many.joined(separator: ",")).counters.count == VersionVector.peerMaxNodes + 1)
    }

    /// The parser before it read bytes (splitting on `,` and `:`, which also let empty pieces and
    /// a `+` through): whatever parses now parsed then, to the same vector.
    static func splitting(_ s: String) -> VersionVector? {
        var c: [String: UInt64] = [:]
        for pair in s.split(separator: ",") {
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let n = UInt64(parts[1]), (try? NodeID(String(parts[0]))) != nil else { return nil }
            c[String(parts[0])] = n
        }
        return VersionVector(c)
    }

    /// Seeded: canonical vectors round-trip, and their mutations (a byte changed, dropped or
    /// doubled) parse only to what the splitting parser made of them.
    @Test(arguments: [1, 2, 3] as [UInt64]) func mutationsParseNoWiderThanBefore(seed: UInt64) throws {
        var rng = SplitMix(seed)
        let nodes = (0..<5).map { i in Base32.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) ^ UInt8(i) }) }
        let pieces = Array(",:0123456789+-azAZ27 ".utf8)
        for _ in 0..<2000 {
            var counters: [String: UInt64] = [:]
            for node in nodes.shuffled(using: &rng).prefix(Int.random(in: 0...4, using: &rng)) {
                counters[node] = Bool.random(using: &rng) ? UInt64.random(in: 1...1000, using: &rng) : UInt64.random(in: 1...UInt64.max, using: &rng)
            }
            let v = VersionVector(counters)
            #expect(try VersionVector(parsing: v.description) == v, "seed \(seed): \(v)")
            var bytes = Array(v.description.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where at < bytes.count: bytes[at] = pieces.randomElement(using: &rng)!
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: bytes.insert(at < bytes.count ? bytes[at] : pieces.randomElement(using: &rng)!, at: at)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let parsed = try? VersionVector(parsing: text) {
                #expect(parsed == Self.splitting(text), "seed \(seed): \(text)")
            }
        }
    }
}
