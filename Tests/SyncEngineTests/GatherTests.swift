import Foundation
import Testing
@testable import SyncCore
@testable import SyncProtocol
@testable import SyncEngine

/// Frames gathered into few writes: a window of content requests goes out together, the answers
/// to a run of them come back together, and nothing gathered waits while its side waits.
@Suite struct GatherTests {
    /// A transport over bytes in memory that records every write.
    final class Recorder: Transport {
        var input: [UInt8]
        var writes: [[UInt8]] = []
        /// Called at each write, with the writes made before it.
        var onWrite: (() -> Void)?
        init(input: [UInt8] = []) { self.input = input }
        func read(max: Int) throws -> [UInt8] {
            let n = min(max, input.count)
            defer { input.removeFirst(n) }
            return Array(input.prefix(n))
        }
        func write(_ bytes: [UInt8]) throws { onWrite?(); writes.append(bytes) }
        func readAvailable(max: Int) throws -> [UInt8]? { input.isEmpty ? nil : try read(max: max) }
        var descriptor: Int32 { -1 }
        /// The messages written, in order.
        func messages() throws -> [Message] {
            let link = Link(Recorder(input: writes.flatMap { $0 }))
            var out: [Message] = []
            while true {
                do { out.append(try link.receive()) } catch ProtocolError.closed { return out }
            }
        }
    }

    static func request(_ id: UInt32, _ path: String = "f") -> Message {
        .contentRequest(id: id, folder: "folder", path: path, hash: String(repeating: "a", count: 40), offset: 0)
    }

    @Test func framesSentInAGatherGoOutInOneWrite() throws {
        let plain = Recorder()
        let link = Link(plain)
        for i in 0..<100 { try link.send(Self.request(UInt32(i))) }
        #expect(plain.writes.count == 100)

        let gathered = Recorder()
        let other = Link(gathered)
        try other.gather { for i in 0..<100 { try other.send(Self.request(UInt32(i))) } }
        #expect(gathered.writes.count == 1)
        #expect(try gathered.messages() == (0..<100).map { Self.request(UInt32($0)) })
        #expect(other.bytesOut == link.bytesOut)
    }

    @Test func aGatherWritesWhenItHoldsItsLimit() throws {
        let t = Recorder()
        let link = Link(t)
        let chunk = [UInt8](repeating: 7, count: 100 << 10)
        try link.gather { for i in 0..<10 { try link.send(.data(id: UInt32(i), chunk)) } }
        // 1 MiB in frames of 100 KiB: never more than the limit held, so at least four writes.
        #expect(t.writes.count >= 4 && t.writes.count <= 10)
        #expect(t.writes.allSatisfy { $0.count <= Link.gatherLimit + chunk.count + 64 })
        #expect(try t.messages() == (0..<10).map { Message.data(id: UInt32($0), chunk) })
    }

    /// A transport that tells each read, to see what was written before it.
    final class Reads: Transport {
        let inner: Recorder
        var onRead: () -> Void
        init(_ inner: Recorder, _ onRead: @escaping () -> Void) { self.inner = inner; self.onRead = onRead }
        func read(max: Int) throws -> [UInt8] { onRead(); return try inner.read(max: max) }
        func write(_ bytes: [UInt8]) throws { try inner.write(bytes) }
        func readAvailable(max: Int) throws -> [UInt8]? { try inner.readAvailable(max: max) }
        var descriptor: Int32 { -1 }
    }

    @Test func whatIsHeldGoesOutBeforeTheLinkWaitsForThePeer() throws {
        let answer = Message.end(id: 1)
        let t = Recorder(input: answer.framed())
        var writtenBeforeRead = -1
        let link = Link(Reads(t) { writtenBeforeRead = t.writes.count })
        try link.gather(holding: true) { try link.send(Self.request(1)) }
        #expect(t.writes.isEmpty)
        // The request is out before the answer is waited for: held, it would wait for ever.
        #expect(try link.receive() == answer)
        #expect(writtenBeforeRead == 1)
    }

    /// Answers each content request with one data frame and an end; anything else with an end,
    /// noting how many writes the link had made when it came.
    final class Answers: RequestHandler {
        let transport: Recorder
        var writesAtOther: [Int] = []
        let size: Int
        init(_ t: Recorder, size: Int = 100) { transport = t; self.size = size }
        func serve(_ request: Message, on session: Session) throws {
            let id = request.requestID ?? 0
            if case .contentRequest = request {
                try session.send(.data(id: id, [UInt8](repeating: 1, count: size)))
            } else {
                writesAtOther.append(transport.writes.count)
            }
            try session.send(.end(id: id))
        }
    }

    static func identity() throws -> NodeIdentity {
        try NodeIdentity.loadOrCreate(in: NSTemporaryDirectory() + "/gather-" + UUID().uuidString)
    }

    func session(_ requests: [Message], size: Int = 100) throws -> (Session, Recorder, Answers) {
        let t = Recorder(input: requests.flatMap { $0.framed() })
        let s = Session(link: Link(t), identity: try Self.identity(), dialing: false)
        let handler = Answers(t, size: size)
        s.handler = handler
        return (s, t, handler)
    }

    @Test func theAnswersToARunOfContentRequestsGoOutTogether() throws {
        let (s, t, _) = try session((1...200).map { Self.request(UInt32($0)) })
        #expect(try s.handleNext())
        // All 200 served in one turn, their 400 frames in one write.
        #expect(t.writes.count == 1)
        let answers = try t.messages()
        #expect(answers.count == 400)
        #expect(answers.first == .data(id: 1, [UInt8](repeating: 1, count: 100)))
        #expect(answers.last == .end(id: 200))
    }

    @Test func anotherRequestFindsTheAnswersBeforeItSent() throws {
        let other = Message.subscribe(id: 99, folder: "folder", since: 0)
        let (s, t, handler) = try session([Self.request(1), Self.request(3), other, Self.request(5)])
        #expect(try s.handleNext())
        // The turn ends at the other request, served after the answers before it were written.
        #expect(handler.writesAtOther == [1])
        #expect(try s.handleNext())
        #expect(try t.messages().map(\.requestID) == [1, 1, 3, 3, 99, 5, 5])
    }

    @Test func aTurnGathersAtMostItsBudget() throws {
        // 64 KiB answers: a turn stops once 1 MiB of them went out, the rest waits for the next.
        let (s, t, _) = try session((1...40).map { Self.request(UInt32($0)) }, size: 64 << 10)
        #expect(try s.handleNext())
        let first = try t.messages().count / 2
        #expect(first >= 16 && first < 40)
        while try s.handleNext() {}
        #expect(try t.messages().count == 80)
    }
}
