/// One index row as a peer sends it. Fields are raw: the receiver validates them (paths above all).
public struct WireEntry: Sendable, Equatable {
    public var path: String
    /// `file`, `symlink` or `directory`.
    public var kind: String
    public var hash: String?
    public var size: Int64
    public var mtimeNs: Int64
    public var executable: Bool
    public var symlinkTarget: String?
    public var deleted: Bool
    /// The version vector in its storage form (`node:counter,...`).
    public var version: String
    public var sequence: Int64

    public init(path: String, kind: String, hash: String?, size: Int64, mtimeNs: Int64, executable: Bool,
                symlinkTarget: String?, deleted: Bool, version: String, sequence: Int64) {
        self.path = path; self.kind = kind; self.hash = hash; self.size = size; self.mtimeNs = mtimeNs
        self.executable = executable; self.symlinkTarget = symlinkTarget; self.deleted = deleted
        self.version = version; self.sequence = sequence
    }

    func encode(_ w: inout WireWriter) {
        w.string(path); w.string(kind); w.optionalString(hash); w.i64(size); w.i64(mtimeNs)
        w.bool(executable); w.optionalString(symlinkTarget); w.bool(deleted); w.string(version); w.i64(sequence)
    }

    init(_ r: inout WireReader) throws {
        self.init(path: try r.string(max: Limits.maxPathBytes, "path"), kind: try r.string(max: Limits.maxNameBytes, "kind"),
                  hash: try r.optionalString(max: Limits.maxNameBytes, "hash"), size: try r.i64(in: Limits.sizes, "size"),
                  mtimeNs: try r.i64(), executable: try r.bool(),
                  symlinkTarget: try r.optionalString(max: Limits.maxPathBytes, "link target"),
                  deleted: try r.bool(), version: try r.string(max: Limits.maxVersionBytes, "version"),
                  sequence: try r.i64(in: Limits.sequences, "sequence"))
    }

    /// The memory the row's fields hold, for the budget of an index answer.
    public var byteCount: Int {
        64 + path.utf8.count + kind.utf8.count + (hash?.utf8.count ?? 0) + (symlinkTarget?.utf8.count ?? 0) + version.utf8.count
    }
}

/// One authored history a side keeps: the node that made it and the commit at its tip.
public struct HistoryTip: Sendable, Equatable {
    public var node: String
    public var commit: String
    public init(node: String, commit: String) { self.node = node; self.commit = commit }
}

/// Why a request failed. A folder the peer may not see is `notFound`, exactly as a missing one.
public enum ErrorCode: UInt8, Sendable {
    case notFound = 1
    /// The file is no longer the version asked for.
    case changed = 2
    case failed = 3
    case badRequest = 4
}

/// Every message of the protocol. Each frame holds one: a type byte, a request id, the body.
/// Requests flow both ways on one link; answers carry the id of the request they answer.
public enum Message: Sendable, Equatable {
    /// First message of each side: protocol version, ed25519 public key, a fresh nonce.
    case hello(version: UInt16, publicKey: [UInt8], nonce: [UInt8])
    /// Second message of each side: the signature of the other side's nonce (see `Handshake`).
    /// The signature over `Handshake.signedBytes`, then the name the node gives itself (for display;
    /// empty: none; at most `Limits.maxNodeNameBytes`).
    case proof(signature: [UInt8], name: String = "")
    /// Index rows of `folder` changed after `since`; answered by `entries`... then `indexEnd`.
    case indexRequest(id: UInt32, folder: String, since: Int64, limit: UInt32)
    case entries(id: UInt32, [WireEntry])
    /// The end of an index answer: the folder's epoch (a new one means "start again from 0"),
    /// its sequence, and whether rows after the last one sent remain.
    case indexEnd(id: UInt32, epoch: String, sequence: Int64, more: Bool)
    /// A file's content from byte `offset`, if its hash is still `hash`: `length` bytes at most (0: to
    /// its end, so a big file can come in ranges, between which other work goes over the link);
    /// answered by `data`... `end`.
    case contentRequest(id: UInt32, folder: String, path: String, hash: String, offset: Int64, length: Int64 = 0)
    /// A delta of a file against a librsync signature that follows in `data` frames and `end`.
    case deltaRequest(id: UInt32, folder: String, path: String, hash: String)
    /// The chunk manifest of a file (one above `history.max-blob`), if its hash is still `hash`:
    /// answered by `data`... `end`, or an error when there is none.
    case manifestRequest(id: UInt32, folder: String, path: String, hash: String)
    case data(id: UInt32, [UInt8])
    case end(id: UInt32)
    /// "I have `folder` up to `sequence`": the other side may pull it over this link, then answers `end`.
    case offer(id: UInt32, folder: String, sequence: Int64)
    /// "Let me see `folder`": sent only over a link opened with an invite key; answered `end` or `error`.
    case join(id: UInt32, folder: String)
    /// "Tell me when `folder` moves": the asking side holds the answering side's rows up to `since`.
    /// Answered `end` (notices follow, on this link, until it closes) or `error`.
    case subscribe(id: UInt32, folder: String, since: Int64)
    /// One-way, never answered: "`folder` is at `sequence` here; my rows after `echoFrom` up to it
    /// came from you", so a side that holds this side's rows up to `echoFrom` holds them all.
    case notice(folder: String, sequence: Int64, echoFrom: Int64)
    /// "Which authored histories of `folder` do you keep?": answered by `historyTips` (or an error).
    case historyTipsRequest(id: UInt32, folder: String)
    case historyTips(id: UInt32, [HistoryTip])
    /// The commits of `node`'s authored history from its tip back (or from the parent of `below`:
    /// the next page), newest first, at most `limit`, stopping before `after` (empty: down to the
    /// first); answered by `historyChain`.
    case historyChainRequest(id: UInt32, folder: String, node: String, below: String, after: String, limit: UInt32)
    /// `reachedAfter`: the walk met the commit asked to stop before (false: the chain does not hold
    /// it, or the limit came first).
    case historyChain(id: UInt32, commits: [String], reachedAfter: Bool)
    /// A git pack of these objects of `folder`'s history (as many as fit one answer, from the
    /// front): answered by `data`... `end`.
    case objectsRequest(id: UInt32, folder: String, ids: [String])
    case error(id: UInt32, code: ErrorCode, message: String)
    case bye

    public static let protocolVersion: UInt16 = 4
    /// The most tips, commits or object ids one history message holds.
    public static let maxHistoryItems = 10_000

    /// The request id a message carries, if any.
    public var requestID: UInt32? {
        switch self {
        case .hello, .proof, .bye, .notice: return nil
        case .indexRequest(let id, _, _, _), .entries(let id, _), .indexEnd(let id, _, _, _),
             .contentRequest(let id, _, _, _, _, _), .deltaRequest(let id, _, _, _), .manifestRequest(let id, _, _, _), .data(let id, _),
             .end(let id), .offer(let id, _, _), .join(let id, _), .subscribe(let id, _, _), .error(let id, _, _),
             .historyTipsRequest(let id, _), .historyTips(let id, _), .historyChainRequest(let id, _, _, _, _, _),
             .historyChain(let id, _, _), .objectsRequest(let id, _, _):
            return id
        }
    }

    /// Whether this message starts a request (as opposed to answering one).
    public var isRequest: Bool {
        switch self {
        case .indexRequest, .contentRequest, .deltaRequest, .manifestRequest, .offer, .join, .subscribe,
             .historyTipsRequest, .historyChainRequest, .objectsRequest: return true
        default: return false
        }
    }

    /// The frame payload.
    public func encoded() -> [UInt8] {
        var w = WireWriter()
        encode(into: &w)
        return w.bytes
    }

    /// The whole frame: the 4-byte length header, then the payload, written once into one buffer
    /// of the right size (a content chunk is copied once on its way out, not three times).
    public func framed() -> [UInt8] {
        var w = WireWriter(capacity: 4 + encodedSizeHint)
        w.u32(0)
        encode(into: &w)
        w.patchLength()
        return w.bytes
    }

    /// About how many bytes the payload takes: exact for content, a small guess for the rest.
    private var encodedSizeHint: Int {
        if case .data(_, let bytes) = self { return 9 + bytes.count }
        return 256
    }

    private func encode(into w: inout WireWriter) {
        switch self {
        case .hello(let v, let key, let nonce):
            w.u8(1); w.u32(UInt32(v)); w.data(key); w.data(nonce)
        case .proof(let sig, let name):
            w.u8(2); w.data(sig); w.string(name)
        case .indexRequest(let id, let folder, let since, let limit):
            w.u8(10); w.u32(id); w.string(folder); w.i64(since); w.u32(limit)
        case .entries(let id, let list):
            w.u8(11); w.u32(id); w.u32(UInt32(list.count)); for e in list { e.encode(&w) }
        case .indexEnd(let id, let epoch, let seq, let more):
            w.u8(12); w.u32(id); w.string(epoch); w.i64(seq); w.bool(more)
        case .contentRequest(let id, let folder, let path, let hash, let offset, let length):
            w.u8(20); w.u32(id); w.string(folder); w.string(path); w.string(hash); w.i64(offset); w.i64(length)
        case .deltaRequest(let id, let folder, let path, let hash):
            w.u8(21); w.u32(id); w.string(folder); w.string(path); w.string(hash)
        case .data(let id, let bytes):
            w.u8(22); w.u32(id); w.data(bytes)
        case .manifestRequest(let id, let folder, let path, let hash):
            w.u8(24); w.u32(id); w.string(folder); w.string(path); w.string(hash)
        case .end(let id):
            w.u8(23); w.u32(id)
        case .offer(let id, let folder, let seq):
            w.u8(30); w.u32(id); w.string(folder); w.i64(seq)
        case .join(let id, let folder):
            w.u8(31); w.u32(id); w.string(folder)
        case .subscribe(let id, let folder, let since):
            w.u8(32); w.u32(id); w.string(folder); w.i64(since)
        case .notice(let folder, let seq, let echo):
            w.u8(33); w.string(folder); w.i64(seq); w.i64(echo)
        case .historyTipsRequest(let id, let folder):
            w.u8(60); w.u32(id); w.string(folder)
        case .historyTips(let id, let tips):
            w.u8(61); w.u32(id); w.u32(UInt32(tips.count)); for t in tips { w.string(t.node); w.string(t.commit) }
        case .historyChainRequest(let id, let folder, let node, let below, let after, let limit):
            w.u8(62); w.u32(id); w.string(folder); w.string(node); w.string(below); w.string(after); w.u32(limit)
        case .historyChain(let id, let commits, let reached):
            w.u8(63); w.u32(id); w.u32(UInt32(commits.count)); for c in commits { w.string(c) }; w.bool(reached)
        case .objectsRequest(let id, let folder, let ids):
            w.u8(64); w.u32(id); w.string(folder); w.u32(UInt32(ids.count)); for i in ids { w.string(i) }
        case .error(let id, let code, let message):
            w.u8(40); w.u32(id); w.u8(code.rawValue); w.string(message)
        case .bye:
            w.u8(50)
        }
    }

    /// Decodes a frame payload; throws `ProtocolError.malformed` for anything that is not a whole
    /// message or that holds a field out of its range (`Limits`).
    public init(decoding payload: [UInt8]) throws {
        func folder(_ r: inout WireReader) throws -> String { try r.string(max: Limits.maxNameBytes, "folder") }
        var r = WireReader(payload)
        let type = try r.u8()
        switch type {
        case 1:
            let v = try r.u32()
            guard v <= UInt16.max else { throw ProtocolError.malformed("bad version") }
            let key = try r.data(), nonce = try r.data()
            guard key.count <= 64, nonce.count <= 64 else { throw ProtocolError.malformed("bad hello") }
            self = .hello(version: UInt16(v), publicKey: key, nonce: nonce)
        case 2:
            let signature = try r.data()
            guard signature.count <= 128 else { throw ProtocolError.malformed("bad proof") }
            // The name came later than the signature: a proof without one is still whole.
            let name = r.isAtEnd ? "" : try r.string(max: Limits.maxNodeNameBytes, "node name")
            self = .proof(signature: signature, name: name)
        case 10: self = .indexRequest(id: try r.u32(), folder: try folder(&r), since: try r.i64(in: Limits.sequences, "since"),
                                      limit: try r.u32())
        case 11:
            let id = try r.u32()
            let n = try r.u32()
            guard n <= 100_000 else { throw ProtocolError.malformed("too many entries") }
            var list: [WireEntry] = []
            for _ in 0..<n { list.append(try WireEntry(&r)) }
            self = .entries(id: id, list)
        case 12: self = .indexEnd(id: try r.u32(), epoch: try r.string(max: Limits.maxNameBytes, "epoch"),
                                  sequence: try r.i64(in: Limits.sequences, "sequence"), more: try r.bool())
        case 20: self = .contentRequest(id: try r.u32(), folder: try folder(&r), path: try r.string(max: Limits.maxPathBytes, "path"),
                                        hash: try r.string(max: Limits.maxNameBytes, "hash"), offset: try r.i64(in: Limits.sizes, "offset"),
                                        length: try r.i64(in: Limits.sizes, "length"))
        case 21: self = .deltaRequest(id: try r.u32(), folder: try folder(&r), path: try r.string(max: Limits.maxPathBytes, "path"),
                                      hash: try r.string(max: Limits.maxNameBytes, "hash"))
        case 22: self = .data(id: try r.u32(), try r.data())
        case 24: self = .manifestRequest(id: try r.u32(), folder: try folder(&r), path: try r.string(max: Limits.maxPathBytes, "path"),
                                         hash: try r.string(max: Limits.maxNameBytes, "hash"))
        case 23: self = .end(id: try r.u32())
        case 30: self = .offer(id: try r.u32(), folder: try folder(&r), sequence: try r.i64(in: Limits.sequences, "sequence"))
        case 31: self = .join(id: try r.u32(), folder: try folder(&r))
        case 32: self = .subscribe(id: try r.u32(), folder: try folder(&r), since: try r.i64(in: Limits.sequences, "since"))
        case 33: self = .notice(folder: try folder(&r), sequence: try r.i64(in: Limits.sequences, "sequence"),
                                echoFrom: try r.i64(in: Limits.sequences, "sequence"))
        case 60: self = .historyTipsRequest(id: try r.u32(), folder: try folder(&r))
        case 61:
            let id = try r.u32()
            self = .historyTips(id: id, try Self.list(&r) { r in
                HistoryTip(node: try r.string(max: Limits.maxNameBytes, "node"), commit: try r.string(max: Limits.maxNameBytes, "commit"))
            })
        case 62: self = .historyChainRequest(id: try r.u32(), folder: try folder(&r), node: try r.string(max: Limits.maxNameBytes, "node"),
                                             below: try r.string(max: Limits.maxNameBytes, "commit"),
                                             after: try r.string(max: Limits.maxNameBytes, "commit"), limit: try r.u32())
        case 63:
            let id = try r.u32()
            let commits = try Self.list(&r) { try $0.string(max: Limits.maxNameBytes, "commit") }
            self = .historyChain(id: id, commits: commits, reachedAfter: try r.bool())
        case 64:
            let id = try r.u32(), f = try folder(&r)
            self = .objectsRequest(id: id, folder: f, ids: try Self.list(&r) { try $0.string(max: Limits.maxNameBytes, "object id") })
        case 40:
            let id = try r.u32()
            guard let code = ErrorCode(rawValue: try r.u8()) else { throw ProtocolError.malformed("bad error code") }
            self = .error(id: id, code: code, message: try r.string(max: Limits.maxMessageBytes, "error message"))
        case 50: self = .bye
        default: throw ProtocolError.malformed("unknown message type \(type)")
        }
        try r.end()
    }
}

extension Message {
    /// A count, then that many items, at most `maxHistoryItems`.
    fileprivate static func list<T>(_ r: inout WireReader, _ item: (inout WireReader) throws -> T) throws -> [T] {
        let n = try r.u32()
        guard n <= maxHistoryItems else { throw ProtocolError.malformed("a list of \(n) items (at most \(maxHistoryItems))") }
        var out: [T] = []
        out.reserveCapacity(Int(n))
        for _ in 0..<n { out.append(try item(&r)) }
        return out
    }
}

/// The bytes each side signs to prove it holds its node key: a context string, the other side's
/// nonce and its own public key, so a proof cannot be replayed on another link or for another key.
public enum Handshake {
    public static func signedBytes(peerNonce: [UInt8], ownKey: [UInt8]) -> [UInt8] {
        Array("sync-link-proof-v1".utf8) + peerNonce + ownKey
    }
}
