import Foundation
import SyncCore
import SyncProtocol

/// Both ends of a link after the handshake: either side may send requests; while one side waits
/// for an answer it serves the other side's requests, so the side that dialed is not a client.
public final class Session {
    public let link: Link
    public let identity: NodeIdentity
    /// The peer's raw ed25519 public key, proven by its signature during the handshake.
    private(set) var peerKey: [UInt8]?
    /// The peer's node id.
    public var peer: NodeID? { peerKey.map(NodeIdentity.nodeID(ofRawKey:)) }
    public var handler: RequestHandler?
    /// The name this node gives itself in the handshake (NodeNames.own), and the one the peer gave
    /// (cleaned; nil: none). For display only.
    public var name = ""
    public private(set) var peerName: String?
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
        try link.send(.proof(signature: try identity.sign(Handshake.signedBytes(peerNonce: peerNonce, ownKey: key)), name: name))
        guard case .proof(let signature, let peerName) = try link.receive() else { throw ProtocolError.unexpected("expected proof") }
        guard NodeIdentity.verify(signature: signature, of: Handshake.signedBytes(peerNonce: nonce, ownKey: peerKey),
                                  publicKey: peerKey) else {
            throw ProtocolError.malformed("the peer's proof of its node key does not verify")
        }
        self.peerKey = peerKey
        self.peerName = NodeNames.clean(peerName)
        return NodeIdentity.nodeID(ofRawKey: peerKey)
    }

    /// The handshake, giving this node's name and noting the peer's in `names`.
    @discardableResult
    public func handshake(names: NodeNames) throws -> NodeID {
        name = names.own()
        let node = try handshake()
        names.note(peerName, for: node)
        return node
    }

    /// A fresh request id.
    func newRequestID() -> UInt32 {
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
    /// Content requests that came together (a window of small files asked at once) are answered
    /// together: their answers are gathered into few writes (`Link.gather`), up to
    /// `burstBytes` of them, then the caller's loop has its turn (a notice to tell goes first).
    func handleNext() throws -> Bool {
        var m: Message
        do { m = try link.receive() } catch ProtocolError.closed { return false }
        let sentBefore = link.bytesOut
        while true {
            if m == .bye { try link.flush(); return false }
            if case .notice(let f, let s, let e) = m {
                queue(Notice(folder: f, sequence: s, echoFrom: e))
            } else {
                guard m.isRequest else { throw ProtocolError.unexpected("answer without a request") }
                guard case .contentRequest = m else {
                    // Any other request may take long or wait for something: nothing answered waits with it.
                    try link.flush()
                    try dispatch(m)
                    return true
                }
                try link.gather(holding: true) { try dispatch(m) }
            }
            guard link.bytesOut - sentBefore < Self.burstBytes, let next = try link.receiveIfHere() else { break }
            m = next
        }
        try link.flush()
        return true
    }

    /// The most answer bytes one turn of `handleNext` gathers.
    static let burstBytes: Int64 = 1 << 20

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
