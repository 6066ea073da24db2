import Testing
import SyncTestSupport
@testable import SyncProtocol

/// Frames a hostile peer may send: every number at both ends of its range, every length at its
/// bound and past it, and random and mutated payloads by the hundred thousand.
@Suite struct HostileFrameTests {
    static func entry(path: String = "a", size: Int64 = 1, mtime: Int64 = 0, version: String = "x:1", sequence: Int64 = 1) -> WireEntry {
        WireEntry(path: path, kind: "file", hash: String(repeating: "a", count: 40), size: size, mtimeNs: mtime,
                  executable: false, symlinkTarget: nil, deleted: false, version: version, sequence: sequence)
    }

    @Test func numbersOutOfRangeAreRefusedAtDecodingAndTheirBoundsAreTaken() throws {
        let maxSeq = Limits.maxSequence, maxSize = Limits.maxFileSize
        let taken: [Message] = [
            .entries(id: 1, [Self.entry(size: 0, mtime: .min, sequence: 0), Self.entry(size: maxSize, mtime: .max, sequence: maxSeq)]),
            .indexEnd(id: .max, epoch: "e", sequence: maxSeq, more: false),
            .indexRequest(id: 0, folder: "f", since: maxSeq, limit: .max),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: maxSize),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: 0, length: maxSize),
            .offer(id: 1, folder: "f", sequence: maxSeq), .subscribe(id: 1, folder: "f", since: 0),
            .notice(folder: "f", sequence: maxSeq, echoFrom: 0),
        ]
        for m in taken { #expect(try Message(decoding: m.encoded()) == m) }
        let refused: [Message] = [
            .entries(id: 1, [Self.entry(sequence: -1)]), .entries(id: 1, [Self.entry(sequence: maxSeq + 1)]),
            .entries(id: 1, [Self.entry(sequence: .max)]), .entries(id: 1, [Self.entry(sequence: .min)]),
            .entries(id: 1, [Self.entry(size: -1)]), .entries(id: 1, [Self.entry(size: maxSize + 1)]),
            .entries(id: 1, [Self.entry(size: .min)]), .entries(id: 1, [Self.entry(size: .max)]),
            .indexEnd(id: 1, epoch: "e", sequence: -1, more: false), .indexEnd(id: 1, epoch: "e", sequence: .max, more: false),
            .indexRequest(id: 0, folder: "f", since: .min, limit: 1), .indexRequest(id: 0, folder: "f", since: .max, limit: 1),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: -1),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: .max),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: 0, length: -1),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: 0, length: .min),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: 0, length: maxSize + 1),
            .contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: 0, length: .max),
            .offer(id: 1, folder: "f", sequence: .min), .offer(id: 1, folder: "f", sequence: .max),
            .subscribe(id: 1, folder: "f", since: -1), .subscribe(id: 1, folder: "f", since: .max),
            .notice(folder: "f", sequence: .max, echoFrom: 0), .notice(folder: "f", sequence: 0, echoFrom: .min),
        ]
        for m in refused {
            #expect(throws: ProtocolError.self, "\(m)") { try Message(decoding: m.encoded()) }
        }
    }

    @Test func fieldsLongerThanTheirPurposeAreRefused() throws {
        let path = String(repeating: "p", count: Limits.maxPathBytes)
        let version = String(repeating: "v", count: Limits.maxVersionBytes)
        let name = String(repeating: "n", count: Limits.maxNameBytes)
        let ok: [Message] = [
            .entries(id: 1, [Self.entry(path: path, version: version)]),
            .contentRequest(id: 1, folder: name, path: path, hash: name, offset: 0),
            .manifestRequest(id: 1, folder: name, path: path, hash: name),
            .error(id: 1, code: .failed, message: String(repeating: "m", count: Limits.maxMessageBytes)),
        ]
        for m in ok { #expect(try Message(decoding: m.encoded()) == m) }
        let long: [Message] = [
            .entries(id: 1, [Self.entry(path: path + "p")]), .entries(id: 1, [Self.entry(version: version + "v")]),
            .contentRequest(id: 1, folder: name + "n", path: "p", hash: "h", offset: 0),
            .contentRequest(id: 1, folder: "f", path: path + "p", hash: "h", offset: 0),
            .deltaRequest(id: 1, folder: "f", path: "p", hash: name + "n"),
            .manifestRequest(id: 1, folder: name + "n", path: "p", hash: "h"),
            .manifestRequest(id: 1, folder: "f", path: path + "p", hash: "h"),
            .manifestRequest(id: 1, folder: "f", path: "p", hash: name + "n"),
            .indexEnd(id: 1, epoch: name + "n", sequence: 0, more: false),
            .error(id: 1, code: .failed, message: String(repeating: "m", count: Limits.maxMessageBytes + 1)),
            .hello(version: 1, publicKey: Array(repeating: 1, count: 65), nonce: []),
            .proof(signature: Array(repeating: 1, count: 129)),
            .proof(signature: [1], name: String(repeating: "n", count: Limits.maxNodeNameBytes + 1)),
        ]
        for m in long {
            #expect(throws: ProtocolError.self, "\(m)") { try Message(decoding: m.encoded()) }
        }
    }

    /// 100,000 payloads: valid messages cut, extended, with bytes flipped or overwritten by extreme
    /// values, and pure noise. Each decodes to a message whose fields are in range, or is refused.
    @Test(arguments: [7, 20_261_129])
    func randomAndMutatedFramesNeverCrashNorPassOutOfRange(seed: UInt64) throws {
        var rng = SplitMix(seed)
        let seeds: [Message] = [
            .hello(version: 1, publicKey: Array(repeating: 7, count: 32), nonce: Array(repeating: 9, count: 32)),
            .proof(signature: Array(repeating: 3, count: 64)),
            .indexRequest(id: 3, folder: "abc", since: 5, limit: 1000),
            .entries(id: 3, [Self.entry(), Self.entry(path: "d/e", version: "x:1,y:2", sequence: 7)]),
            .indexEnd(id: 3, epoch: "e", sequence: 77, more: true),
            .contentRequest(id: 5, folder: "f", path: "p", hash: "h", offset: 1 << 40),
            .deltaRequest(id: 7, folder: "f", path: "p", hash: "h"), .data(id: 7, Array(0...40)), .end(id: 7),
            .offer(id: 9, folder: "f", sequence: 4), .join(id: 11, folder: "g"), .subscribe(id: 13, folder: "g", since: 42),
            .notice(folder: "g", sequence: 50, echoFrom: 44), .error(id: 9, code: .notFound, message: "not found"), .bye,
        ]
        let extremes: [[UInt8]] = [[0xff, 0xff, 0xff, 0xff], [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                                   [0x80, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]
        var decoded = 0
        for i in 0..<50_000 {
            var bytes: [UInt8]
            if i % 10 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds.randomElement(using: &rng)!.encoded()
                for _ in 0...Int.random(in: 0...3, using: &rng) {
                    switch Int.random(in: 0...4, using: &rng) {
                    case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
                    case 2: bytes += (0..<Int.random(in: 1...9, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    case 3 where bytes.count > 8:
                        let e = extremes.randomElement(using: &rng)!
                        let at = Int.random(in: 1...(bytes.count - e.count), using: &rng)
                        bytes.replaceSubrange(at..<at + e.count, with: e)
                    default: if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng)) }
                    }
                }
            }
            guard let m = try? Message(decoding: bytes) else { continue }
            decoded += 1
            #expect(Self.inRange(m), "seed \(seed), frame \(i): \(m)")
        }
        #expect(decoded > 0)
    }

    static func inRange(_ m: Message) -> Bool {
        let seq = Limits.sequences
        switch m {
        case .entries(_, let list):
            return list.allSatisfy { seq.contains($0.sequence) && Limits.sizes.contains($0.size) && $0.path.utf8.count <= Limits.maxPathBytes }
        case .indexEnd(_, _, let s, _), .offer(_, _, let s), .subscribe(_, _, let s), .indexRequest(_, _, let s, _): return seq.contains(s)
        case .notice(_, let s, let e): return seq.contains(s) && seq.contains(e)
        case .contentRequest(_, _, _, _, let o, let l): return Limits.sizes.contains(o) && Limits.sizes.contains(l)
        default: return true
        }
    }
}
