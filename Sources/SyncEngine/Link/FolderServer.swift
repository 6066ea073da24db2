import Foundation
import SyncCore
import SyncDelta
import SyncProtocol

/// Answers a peer's requests for this node's folders. Authorization is checked here, once per
/// request, and a folder the peer may not see gets the very answer of a folder that does not exist.
public final class FolderServer: RequestHandler {
    let state: StateDirectory
    /// The peer asking, as proven during the handshake.
    let peer: NodeID
    /// Called for a peer's offer of a folder it may send to us: pull it over the same session; returns
    /// the problems of the pull, which the answer to the offer carries back to the peer.
    var onOffer: ((Folder, Session) throws -> [String])?
    /// What this side sends the peer, told per folder for the link's status: rows of the index
    /// (with the content they name, which the peer may ask for), and content.
    enum Served { case rows(Int, bytes: Int64), content(Int) }
    var onServed: ((FolderID, Served) -> Void)?
    /// Problems met while serving, for the caller to report.
    public private(set) var problems: [String] = []

    /// Authorization, asked on every request; answers are reused while the files behind them stay the same.
    private let authorization = FolderAccess.Cache()
    /// Folders opened so far on this link: authorization is still asked on every request.
    private var contexts: [FolderID: FolderContext] = [:]

    /// Content is read through this one buffer (a new one per request cost a 256 KiB allocation
    /// and its zeroing for every small file asked for).
    private var readBuffer = [UInt8](repeating: 0, count: Frame.chunkSize)

    /// Folders the peer asked to be told of on this link, with the sequence it held of each then.
    private(set) var subscriptions: [FolderID: (folder: Folder, since: Int64)] = [:]

    public init(state: StateDirectory, peer: NodeID) { self.state = state; self.peer = peer }

    /// The folder, when it exists and the peer may see it now.
    public func authorized(_ folder: String) -> Folder? {
        authorization.authorizedFolder(folder, peer: peer, state: state)
    }

    /// Every folder the peer may see now, by id (one pass, whatever their number).
    public func visibleFolders() -> [String: Folder] {
        authorization.visibleFolders(peer: peer, state: state)
    }

    private func context(_ folder: Folder) throws -> FolderContext {
        if let c = contexts[folder.id] { return c }
        let c = try FolderContext(folder, state: state)
        contexts[folder.id] = c
        return c
    }

    static let maxSignature: Int64 = 256 << 20

    public func serve(_ request: Message, on session: Session) throws {
        switch request {
        case .indexRequest(let id, let folder, let since, let limit):
            guard let f = authorized(folder) else {
                return try notFound(id, folder, session)
            }
            let context = try context(f)
            // The peer holds every row up to `since`: deletion records it has seen may expire.
            try? context.index.noteSeen(by: peer.rawValue, upTo: since)
            // The sequence first: every row up to it is then in the answer or in a later one.
            let sequence = try context.index.servedSequence()
            // A paused folder serves nothing new: the peer is answered where it stands.
            if f.config.paused {
                return try session.send(.indexEnd(id: id, epoch: try context.index.epoch(), sequence: Swift.min(since, sequence), more: false))
            }
            let max = Swift.min(Swift.max(Int(limit), 1), 5000)
            // Rows of a change the deletion guard holds back stay here.
            let rows = try context.index.entries(since: since, limit: max + 1).filter { $0.sequence <= sequence }
            // At most half of what a peer accepts in one answer (long paths and link targets), and
            // at least one row; the rest comes in the next answer.
            var wire: [WireEntry] = []
            var bytes = 0
            for row in rows.prefix(max) {
                let w = Self.wire(row)
                bytes += w.byteCount
                if bytes > Limits.maxBatchBytes / 2 && !wire.isEmpty { break }
                wire.append(w)
            }
            let sent = rows.prefix(wire.count)
            var i = 0
            while i < wire.count {
                try session.send(.entries(id: id, Array(wire[i..<Swift.min(i + 500, wire.count)])))
                i += 500
            }
            try session.send(.indexEnd(id: id, epoch: try context.index.epoch(), sequence: sequence,
                                       more: rows.count > sent.count))
            if !sent.isEmpty {
                onServed?(f.id, .rows(sent.count, bytes: sent.reduce(0) { !$1.deleted && $1.kind == .file ? $0 + $1.size : $0 }))
            }
            // The last answer of its pull: it was sent every row up to `sequence` (for sync status).
            if rows.count == sent.count { try? context.index.noteSent(to: peer.rawValue, upTo: sequence) }
        case .contentRequest(let id, let folder, let path, let hash, let offset, let length):
            guard let f = authorized(folder) else {
                return try notFound(id, folder, session)
            }
            let fd: Descriptor
            var size: Int64 = 0
            do { fd = try openServed(f, path, hash, size: &size) } catch let e as Refusal {
                return try session.send(.error(id: id, code: e.code, message: e.message))
            }
            // Just opened: at offset 0 already.
            if offset != 0 {
                guard offset > 0, lseek(fd.raw, off_t(offset), SEEK_SET) == off_t(offset) else {
                    return try session.send(.error(id: id, code: .badRequest, message: "bad offset \(offset)"))
                }
            }
            // The recorded length and no more (no read to find the end of a small file).
            let rest = Swift.max(0, size - offset)
            try stream(fd.raw, id, session, f.id, length: length > 0 ? Swift.min(length, rest) : rest)
        case .deltaRequest(let id, let folder, let path, let hash):
            // The signature follows in data frames. It is stored only for a folder the peer may see;
            // for any other it is read and dropped, the same work for a denied and a missing folder.
            let f = authorized(folder)
            let sigPath = try state.temporaryPath("serve")
            defer { unlink(sigPath) }
            // For a folder it may not see, the same writes go to /dev/null.
            let sig = f == nil ? try Descriptor(opening: "/dev/null", O_WRONLY)
                               : try Descriptor(opening: sigPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            var total: Int64 = 0
            loop: while true {
                switch try session.next(for: id, serving: false) {
                case .data(_, let bytes):
                    total += Int64(bytes.count)
                    guard total <= Self.maxSignature else { throw ProtocolError.malformed("signature larger than \(Self.maxSignature) bytes") }
                    try POSIX.writeAll(sig.raw, bytes, path: sigPath)
                case .end: break loop
                default: throw ProtocolError.unexpected("expected signature data")
                }
            }
            guard let f else { return try notFound(id, folder, session) }
            let fd: Descriptor
            var size: Int64 = 0
            do { fd = try openServed(f, path, hash, size: &size) } catch let e as Refusal {
                return try session.send(.error(id: id, code: e.code, message: e.message))
            }
            let deltaPath = try state.temporaryPath("serve")
            defer { unlink(deltaPath) }
            do {
                try Delta.delta(signature: sigPath, newFile: "/proc/self/fd/\(fd.raw)", to: deltaPath)
            } catch let e as DeltaError {
                return try session.send(.error(id: id, code: .failed, message: "delta of \(path): \(e.message)"))
            }
            let d = try Descriptor(opening: deltaPath, O_RDONLY)
            try stream(d.raw, id, session, f.id, length: .max)
        case .manifestRequest(let id, let folder, let path, let hash):
            guard let f = authorized(folder) else {
                return try notFound(id, folder, session)
            }
            guard let p = try? RelativePath(path) else {
                return try session.send(.error(id: id, code: .badRequest, message: "invalid path"))
            }
            let index = try context(f).index
            guard let size = try index.servedSize(p, hash: hash) else {
                return try session.send(.error(id: id, code: .changed, message: "\(path): not this version any more"))
            }
            guard let kept = try index.manifest(for: hash).flatMap({ ChunkManifest(decoding: $0, size: size) }), kept.form == .kept else {
                return try session.send(.error(id: id, code: .failed, message: "\(path): no chunk manifest here"))
            }
            try sendAnswer(id, kept.encoded(.sent), session)
        case .offer(let id, let folder, _):
            guard let f = authorized(folder) else {
                return try notFound(id, folder, session)
            }
            // What went wrong goes back to the peer, whose user asked for this (and into `problems`).
            // A broken link (ProtocolError) ends the session instead.
            var report: [String] = []
            if let onOffer {
                do { report = try onOffer(f, session) } catch let e as RemoteError {
                    report = ["pull: \(e.message)"]
                } catch let e as SyncError {
                    report = [e.description]
                }
            }
            problems += report
            guard report.isEmpty else {
                let text = report.joined(separator: "\n")
                return try session.send(.error(id: id, code: .failed, message: String(decoding: text.utf8.prefix(Limits.maxMessageBytes - 16), as: UTF8.self)))
            }
            try session.send(.end(id: id))
        case .subscribe(let id, let folder, let since):
            guard let f = authorized(folder) else {
                return try notFound(id, folder, session)
            }
            try? context(f).index.noteSeen(by: peer.rawValue, upTo: since)
            subscriptions[f.id] = (f, since)
            try session.send(.end(id: id))
        case .historyTipsRequest(let id, let folder):
            guard let f = authorized(folder) else { return try notFound(id, folder, session) }
            try serveTips(id, try context(f), session)
        case .historyChainRequest(let id, let folder, let node, let below, let after, let limit):
            guard let f = authorized(folder) else { return try notFound(id, folder, session) }
            try serveChain(id, try context(f), node: node, below: below, after: after, limit: limit, session)
        case .objectsRequest(let id, let folder, let ids):
            guard let f = authorized(folder) else { return try notFound(id, folder, session) }
            try serveObjects(id, try context(f), ids, session)
        case .join(let id, let folder):
            // Only a link opened with an invite key may ask this (InviteHandler).
            try notFound(id, folder, session)
        default:
            throw ProtocolError.unexpected("not a request")
        }
    }

    /// An answer held whole in memory (a manifest, a pack): `data` frames of at most a chunk, then `end`.
    func sendAnswer(_ id: UInt32, _ bytes: [UInt8], _ session: Session) throws {
        var at = 0
        while at < bytes.count {
            let n = Swift.min(Frame.chunkSize, bytes.count - at)
            try session.send(.data(id: id, Array(bytes[at..<(at + n)])))
            at += n
        }
        try session.send(.end(id: id))
    }

    /// The one answer for a folder that is missing or that the peer may not see.
    func notFound(_ id: UInt32, _ folder: String, _ session: Session) throws {
        // Not even the folder id is echoed: the bytes are the same whatever was asked.
        try session.send(.error(id: id, code: .notFound, message: "not found"))
    }

    struct Refusal: Error { let code: ErrorCode; let message: String }

    /// Opens a served file: only a path the index holds as a live file with `hash`, never through a link.
    private func openServed(_ folder: Folder, _ path: String, _ hash: String, size served: inout Int64) throws -> Descriptor {
        guard let p = try? RelativePath(path) else { throw Refusal(code: .badRequest, message: "invalid path") }
        guard let size = try context(folder).index.servedSize(p, hash: hash) else {
            throw Refusal(code: .changed, message: "\(path): not this version any more")
        }
        let fd: Descriptor
        do { fd = try Beneath.openForReading(p, in: folder.root) } catch {
            throw Refusal(code: .changed, message: "\(path): cannot be read now")
        }
        // A file whose length is not the recorded one is not that version (it is being written, or
        // it was recorded while it was): served to its end, it would be far more than the peer was
        // told to expect.
        var st = stat()
        guard fstat(fd.raw, &st) == 0, Int64(st.st_size) == size else {
            throw Refusal(code: .changed, message: "\(path): changed since it was recorded")
        }
        served = size
        return fd
    }

    /// Sends what `fd` holds from where it stands: `length` bytes at most (fewer if it ends first).
    private func stream(_ fd: Int32, _ id: UInt32, _ session: Session, _ folder: FolderID, length: Int64) throws {
        var left = length
        while left > 0 {
            let n: Int
            do { n = try POSIX.read(fd, into: &readBuffer, count: Int(min(left, Int64(readBuffer.count))), path: "file") } catch SyncError.io(_, _, let e) {
                return try session.send(.error(id: id, code: .changed, message: "read failed: \(String(cString: strerror(e)))"))
            }
            if n == 0 { break }
            left -= Int64(n)
            try session.send(.data(id: id, Array(readBuffer.prefix(n))))
            onServed?(folder, .content(n))
        }
        try session.send(.end(id: id))
    }

    static func wire(_ e: FileEntry) -> WireEntry {
        WireEntry(path: e.path.rawValue, kind: e.kind.rawValue, hash: e.hash, size: e.size, mtimeNs: e.mtimeNs,
                  executable: e.executable, symlinkTarget: e.symlinkTarget, deleted: e.deleted,
                  version: e.version.description, sequence: e.sequence)
    }
}

/// Serves a link opened with an invite key: the one request it grants is the join of the invite's
/// folder, once, by a proven node key; anything else gets the answer of a missing folder.
public final class InviteHandler: RequestHandler {
    let state: StateDirectory
    let invite: NodeID
    /// Records the new key for the folder (folder access and authorized_keys).
    let accept: (Folder, PeerKey) throws -> Void
    /// The folder joined on this link, if any.
    public private(set) var joined: (folder: Folder, key: PeerKey)?

    public init(state: StateDirectory, invite: NodeID, accept: @escaping (Folder, PeerKey) throws -> Void) {
        self.state = state; self.invite = invite; self.accept = accept
    }

    public func serve(_ request: Message, on session: Session) throws {
        guard let id = request.requestID else { throw ProtocolError.unexpected("not a request") }
        guard case .join(_, let folder) = request, joined == nil, let raw = session.peerKey,
              raw != session.identity.rawPublicKey,
              let claimed = Invites(state).claim(invite), claimed.folder == folder,
              let f = try? state.folder(folder), f.id.rawValue == folder else {
            return try session.send(.error(id: id, code: .notFound, message: "not found"))
        }
        let key = PeerKey(rawKey: raw)
        try accept(f, key)
        joined = (f, key)
        try session.send(.end(id: id))
    }
}
