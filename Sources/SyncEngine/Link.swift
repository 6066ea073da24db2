import Foundation
import SyncCore
import SyncProtocol

/// A byte stream between two nodes: an SSH channel on the dialing side, stdin/stdout in sync-serve.
public protocol Transport: AnyObject {
    /// Up to `max` bytes; an empty result means the other side closed the stream.
    func read(max: Int) throws -> [UInt8]
    func write(_ bytes: [UInt8]) throws
    /// What can be read without waiting: nil when nothing is there now, empty at the end of the stream.
    func readAvailable(max: Int) throws -> [UInt8]?
    /// A descriptor that poll(2) reports readable when more may be there.
    var descriptor: Int32 { get }
}

/// Standard input and output as a transport (the forced-command side).
public final class FileDescriptorTransport: Transport, Sendable {
    let input: Int32, output: Int32
    public init(input: Int32 = 0, output: Int32 = 1) { self.input = input; self.output = output }

    public func read(max: Int) throws -> [UInt8] { try POSIX.read(input, max: max, path: "stdin") }

    public func write(_ bytes: [UInt8]) throws { try POSIX.writeAll(output, bytes, path: "stdout") }

    public func readAvailable(max: Int) throws -> [UInt8]? {
        var p = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return nil }
        return try read(max: max)
    }

    public var descriptor: Int32 { input }
}

/// Frames over a transport, with byte counts both ways.
public final class Link {
    let transport: Transport
    private var buffer: [UInt8] = []
    private var start = 0
    public private(set) var bytesIn: Int64 = 0
    public private(set) var bytesOut: Int64 = 0
    /// The longest silence accepted while the rest of a frame is awaited (`receive` is called when
    /// a message is due: an answer, or the frame a `wait` announced); nil waits for ever.
    public var callTimeout: Double?

    public init(_ transport: Transport, callTimeout: Double? = nil) { self.transport = transport; self.callTimeout = callTimeout }

    public func send(_ message: Message) throws {
        let payload = message.encoded()
        try transport.write(Frame.header(payload.count) + payload)
        bytesOut += Int64(payload.count + 4)
    }

    /// Waits up to `timeout` seconds until a message may be received or one of `others` is readable;
    /// returns whether the link has input (or has closed: `receive` then says so) and which of
    /// `others` are readable.
    public func wait(timeout: Double, others: [Int32]) throws -> (link: Bool, others: [Int32]) {
        var fds = [pollfd(fd: transport.descriptor, events: Int16(POLLIN), revents: 0)]
            + others.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        func readyOthers() -> [Int32] { fds.dropFirst().filter { $0.revents != 0 }.map(\.fd) }
        if buffer.count > start || takeAvailable() {
            _ = poll(&fds, nfds_t(fds.count), 0)
            return (true, readyOthers())
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            for i in fds.indices { fds[i].revents = 0 }
            let ms = Int32(max(0, deadline.timeIntervalSinceNow * 1000).rounded(.up))
            let n = poll(&fds, nfds_t(fds.count), ms)
            if n < 0 {
                if errno == EINTR { return (false, []) }
                throw SyncError.io(path: "link", operation: "poll", errno: errno)
            }
            let link = fds[0].revents != 0 && takeAvailable()
            let ready = readyOthers()
            // The socket may wake for the transport's own traffic (SSH window updates): wait on.
            if link || !ready.isEmpty || n == 0 || deadline.timeIntervalSinceNow <= 0 { return (link, ready) }
        }
    }

    /// Moves what the transport has now into the buffer; true when something came (or the stream ended).
    private var ended = false
    private func takeAvailable() -> Bool {
        if ended { return true }
        let more: [UInt8]
        do {
            guard let m = try transport.readAvailable(max: 64 << 10) else { return false }
            more = m
        } catch { ended = true; return true } // a broken stream reads as its end
        if more.isEmpty { ended = true; return true }
        bytesIn += Int64(more.count)
        if start > 0 { buffer.removeFirst(start); start = 0 }
        buffer += more
        return true
    }

    /// The next message; `ProtocolError.closed` at the end of the stream.
    public func receive() throws -> Message {
        let header = try take(4)
        let payload = try take(try Frame.length(ofHeader: header))
        return try Message(decoding: payload)
    }

    private func take(_ n: Int) throws -> [UInt8] {
        var silentSince: Date?
        while buffer.count - start < n {
            if ended { throw ProtocolError.closed }
            if let limit = callTimeout {
                // Bytes as they come, without blocking; a silence longer than the limit ends the link.
                if takeAvailable() { silentSince = nil; continue }
                let since = silentSince ?? Date()
                silentSince = since
                let left = limit - Date().timeIntervalSince(since)
                guard left > 0 else { throw ProtocolError.timedOut(Int(limit.rounded())) }
                var p = pollfd(fd: transport.descriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, Int32(min(left, 3600) * 1000) + 1)
                continue
            }
            let more = try transport.read(max: max(64 << 10, n - (buffer.count - start)))
            if more.isEmpty { throw ProtocolError.closed }
            bytesIn += Int64(more.count)
            if start > 0 { buffer.removeFirst(start); start = 0 }
            buffer += more
        }
        defer { start += n }
        return Array(buffer[start..<start + n])
    }
}

/// Serves the requests a peer makes over a session.
public protocol RequestHandler: AnyObject {
    func serve(_ request: Message, on session: Session) throws
}

/// Both ends of a link after the handshake: either side may send requests; while one side waits
/// for an answer it serves the other side's requests, so the side that dialed is not a client.
public final class Session {
    public let link: Link
    public let identity: NodeIdentity
    /// The peer's raw ed25519 public key, proven by its signature during the handshake.
    public private(set) var peerKey: [UInt8]?
    /// The peer's node id.
    public var peer: NodeID? { peerKey.map(NodeIdentity.nodeID(ofRawKey:)) }
    public var handler: RequestHandler?
    /// Notices the peer sent, oldest first, not yet taken.
    public var notices: [Notice] = []
    private var nextID: UInt32

    public init(link: Link, identity: NodeIdentity, dialing: Bool) {
        self.link = link
        self.identity = identity
        nextID = dialing ? 1 : 2 // odd ids from the dialing side, even from the other: never the same
    }

    /// Exchanges hellos and proofs; returns the proven node id of the peer.
    @discardableResult
    public func handshake() throws -> NodeID {
        var nonce = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in nonce.indices { nonce[i] = rng.next() }
        let key = identity.rawPublicKey
        try link.send(.hello(version: Message.protocolVersion, publicKey: key, nonce: nonce))
        guard case .hello(let version, let peerKey, let peerNonce) = try link.receive() else {
            throw ProtocolError.unexpected("expected hello")
        }
        guard version == Message.protocolVersion else { throw ProtocolError.version(version) }
        guard peerKey.count == 32, peerNonce.count == 32 else { throw ProtocolError.malformed("bad hello") }
        try link.send(.proof(signature: try identity.sign(Handshake.signedBytes(peerNonce: peerNonce, ownKey: key))))
        guard case .proof(let signature) = try link.receive() else { throw ProtocolError.unexpected("expected proof") }
        guard NodeIdentity.verify(signature: signature, of: Handshake.signedBytes(peerNonce: nonce, ownKey: peerKey),
                                  publicKey: peerKey) else {
            throw ProtocolError.malformed("the peer's proof of its node key does not verify")
        }
        self.peerKey = peerKey
        return NodeIdentity.nodeID(ofRawKey: peerKey)
    }

    /// A fresh request id.
    public func newRequestID() -> UInt32 {
        defer { nextID &+= 2 }
        return nextID
    }

    public func send(_ message: Message) throws { try link.send(message) }

    /// The next message that belongs to request `id`; the peer's own requests that arrive first are
    /// served, unless `serving` is false (a request then breaks the protocol: a side that is still
    /// sending a request's body cannot ask another, so requests cannot nest without end).
    public func next(for id: UInt32, serving: Bool = true) throws -> Message {
        while true {
            let m = try link.receive()
            if m.isRequest {
                guard serving else { throw ProtocolError.unexpected("a request inside request \(id)") }
                try dispatch(m)
                continue
            }
            if case .notice(let f, let s, let e) = m { queue(Notice(folder: f, sequence: s, echoFrom: e)); continue }
            if m == .bye { throw ProtocolError.closed }
            guard m.requestID == id else { throw ProtocolError.unexpected("answer for request \(m.requestID ?? 0) while waiting for \(id)") }
            return m
        }
    }

    /// Serves the peer's requests until it says bye or closes the link.
    public func serveUntilClosed() throws {
        while try handleNext() {}
    }

    /// Receives and handles one message: a request is served, a notice queued; false when the peer
    /// said bye or closed the link.
    public func handleNext() throws -> Bool {
        let m: Message
        do { m = try link.receive() } catch ProtocolError.closed { return false }
        if m == .bye { return false }
        if case .notice(let f, let s, let e) = m {
            queue(Notice(folder: f, sequence: s, echoFrom: e))
            return true
        }
        guard m.isRequest else { throw ProtocolError.unexpected("answer without a request") }
        try dispatch(m)
        return true
    }

    /// Keeps the latest notice per folder, for at most 64 folders: a peer cannot fill memory with them.
    private func queue(_ notice: Notice) {
        if let i = notices.firstIndex(where: { $0.folder == notice.folder }) {
            notices[i] = notice
        } else if notices.count < 64 {
            notices.append(notice)
        }
    }

    private func dispatch(_ request: Message) throws {
        guard let handler else {
            try send(.error(id: request.requestID ?? 0, code: .badRequest, message: "this side serves no requests"))
            return
        }
        try handler.serve(request, on: self)
    }
}

/// A peer's word that one of its folders moved (see `Message.notice`).
public struct Notice: Sendable, Equatable {
    public let folder: String
    public let sequence: Int64
    public let echoFrom: Int64
    public init(folder: String, sequence: Int64, echoFrom: Int64) { self.folder = folder; self.sequence = sequence; self.echoFrom = echoFrom }
}
