import Testing
@testable import SyncProtocol

@Suite struct MessageTests {
    let entry = WireEntry(path: "a/b.txt", kind: "file", hash: String(repeating: "a", count: 40), size: 12,
                          mtimeNs: 1_700_000_000_123_456_789, executable: true, symlinkTarget: nil, deleted: false,
                          version: "x:1", sequence: 9)

    @Test func everyMessageSurvivesEncoding() throws {
        let all: [Message] = [
            .hello(version: 1, publicKey: Array(repeating: 7, count: 32), nonce: Array(repeating: 9, count: 32)),
            .proof(signature: [1, 2, 3]),
            .proof(signature: [1, 2, 3], name: "laptop ünï"),
            .indexRequest(id: 3, folder: "abc", since: 0, limit: 1000),
            .entries(id: 3, [entry, WireEntry(path: "l", kind: "symlink", hash: nil, size: 0, mtimeNs: 0, executable: false,
                                              symlinkTarget: "../x", deleted: true, version: "", sequence: 1)]),
            .indexEnd(id: 3, epoch: "e", sequence: 77, more: true),
            .contentRequest(id: 5, folder: "f", path: "p", hash: "h", offset: 1 << 40),
            .contentRequest(id: 6, folder: "f", path: "p", hash: "h", offset: 16 << 20, length: 16 << 20),
            .deltaRequest(id: 7, folder: "f", path: "p", hash: "h"),
            .manifestRequest(id: 8, folder: "f", path: "d/p", hash: "h"),
            .data(id: 7, Array(0...255)), .end(id: 7),
            .offer(id: 9, folder: "f", sequence: 4),
            .join(id: 11, folder: "g"),
            .subscribe(id: 13, folder: "g", since: 42),
            .notice(folder: "g", sequence: 50, echoFrom: 44),
            .error(id: 9, code: .notFound, message: "folder f: not found"),
            .bye,
        ]
        for m in all { #expect(try Message(decoding: m.encoded()) == m) }
    }

    @Test func truncatedOrPaddedPayloadsAreRefused() throws {
        let bytes = Message.contentRequest(id: 1, folder: "f", path: "p", hash: "h", offset: 0).encoded()
        for n in 0..<bytes.count {
            #expect(throws: ProtocolError.self) { try Message(decoding: Array(bytes.prefix(n))) }
        }
        #expect(throws: ProtocolError.self) { try Message(decoding: bytes + [0]) }
        #expect(throws: ProtocolError.self) { try Message(decoding: [99]) }
    }

    @Test func aLengthFieldCannotReachPastTheFrame() {
        // An entries message that claims a 4 GiB string.
        var bytes: [UInt8] = [11, 0, 0, 0, 1, 0, 0, 0, 1]
        bytes += [0xff, 0xff, 0xff, 0xff]
        #expect(throws: ProtocolError.self) { try Message(decoding: bytes) }
    }

    @Test func oversizedFrameHeadersAreRefused() throws {
        #expect(try Frame.length(ofHeader: Frame.header(100)) == 100)
        #expect(throws: ProtocolError.frameTooLarge(Frame.maxLength + 1)) {
            try Frame.length(ofHeader: Frame.header(Int(Frame.maxLength) + 1))
        }
    }

    @Test func stringsMustBeUTF8() {
        var w = WireWriter()
        w.u8(23); w.u32(1)
        var bad = Message.error(id: 1, code: .failed, message: "x").encoded()
        bad[bad.count - 1] = 0xff
        #expect(throws: ProtocolError.self) { try Message(decoding: bad) }
    }
}
