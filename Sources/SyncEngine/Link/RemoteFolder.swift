import Foundation
import SyncCore
import SyncProtocol

/// A request the peer answered with an error.
public struct RemoteError: Error, CustomStringConvertible, Sendable {
    public let code: ErrorCode
    public let message: String
    public var description: String { message }
}

/// A folder on the other side of a session: its index rows, file contents and deltas.
public final class RemoteFolder {
    public let session: Session
    public let folder: String
    /// The largest answer a peer may send for one file: more than it announced is refused.
    static let slack: Int64 = 64 << 10
    /// Bytes beyond an answer's limit read (and dropped) before the link is given up.
    static let flood: Int64 = 64 << 20

    /// Called before each request goes out: a puller that asked for content ahead reads it there,
    /// since answers come in the order of the requests.
    var beforeRequest: (() throws -> Void)?

    public init(session: Session, folder: String) { self.session = session; self.folder = folder }

    public struct IndexBatch { public var entries: [WireEntry]; public var epoch: String; public var sequence: Int64; public var more: Bool }

    /// Up to `limit` rows changed after `since`.
    public func index(since: Int64, limit: Int) throws -> IndexBatch {
        try beforeRequest?()
        return try readIndex(requestIndex(since: since, limit: limit), since: since, limit: limit)
    }

    /// Asks for up to `limit` rows changed after `since` without waiting; `readIndex` reads them.
    /// Unlike the other requests it does not call `beforeRequest`: the caller asks it behind
    /// what it asked ahead, and reads it after that.
    func requestIndex(since: Int64, limit: Int) throws -> UInt32 {
        let id = session.newRequestID()
        try session.send(.indexRequest(id: id, folder: folder, since: since, limit: UInt32(limit)))
        return id
    }

    /// Reads the answer to index request `id` (rows after `since`, at most `limit`).
    func readIndex(_ id: UInt32, since: Int64, limit: Int) throws -> IndexBatch {
        var entries: [WireEntry] = []
        var bytes = 0
        while true {
            switch try session.next(for: id) {
            case .entries(_, let list):
                entries += list
                guard entries.count <= limit else { throw ProtocolError.malformed("more rows than asked for") }
                // Rows come in sequence order after `since`: a peer cannot keep a pull turning in place.
                guard list.allSatisfy({ $0.sequence > since }) else { throw ProtocolError.malformed("a row at or before the sequence asked from") }
                bytes += list.reduce(0) { $0 + $1.byteCount }
                guard bytes <= Limits.maxBatchBytes else {
                    throw ProtocolError.malformed("index answer larger than \(Limits.maxBatchBytes) bytes")
                }
            case .indexEnd(_, let epoch, let sequence, let more):
                guard !more || !entries.isEmpty else { throw ProtocolError.malformed("more rows announced, none sent") }
                return IndexBatch(entries: entries, epoch: epoch, sequence: sequence, more: more)
            case .error(_, let code, let message):
                throw RemoteError(code: code, message: message)
            default:
                throw ProtocolError.unexpected("in an index answer")
            }
        }
    }

    /// Asks for the content of `path` (from `offset`, `length` bytes at most; 0: to its end) without waiting: answers come in the order asked, so many
    /// requests can be in flight; each is then read with `receiveContent`.
    func requestContent(_ path: String, hash: String, offset: Int64 = 0, length: Int64 = 0) throws -> UInt32 {
        try beforeRequest?()
        let id = session.newRequestID()
        try session.send(.contentRequest(id: id, folder: folder, path: path, hash: hash, offset: offset, length: length))
        return id
    }

    /// Reads the answer to content request `id` into `fd`; at most `limit` bytes are accepted;
    /// `progress` sees each piece as it is written. Returns the bytes written.
    @discardableResult
    func receiveContent(_ id: UInt32, into fd: Int32, limit: Int64, progress: ([UInt8]) throws -> Void = { _ in }) throws -> Int64 {
        try receive(id, into: fd, limit: limit, progress: progress)
    }

    /// The chunk manifest the peer keeps of `path` at `hash`, as it sent it: at most `limit` bytes
    /// (more is a broken answer); a `RemoteError` when it has none or the file changed.
    func manifest(_ path: String, hash: String, limit: Int) throws -> [UInt8] {
        try beforeRequest?()
        let id = session.newRequestID()
        try session.send(.manifestRequest(id: id, folder: folder, path: path, hash: hash))
        var bytes: [UInt8] = []
        while true {
            switch try session.next(for: id) {
            case .data(_, let piece):
                guard bytes.count + piece.count <= limit else { throw ProtocolError.malformed("chunk manifest larger than \(limit) bytes") }
                bytes += piece
            case .end:
                return bytes
            case .error(_, let code, let message):
                throw RemoteError(code: code, message: message)
            default:
                throw ProtocolError.unexpected("in a manifest answer")
            }
        }
    }

    /// The authored histories the peer keeps of the folder: node and tip, as sent (unchecked).
    func historyTips() throws -> [HistoryTip] {
        try beforeRequest?()
        let id = session.newRequestID()
        try session.send(.historyTipsRequest(id: id, folder: folder))
        switch try session.next(for: id) {
        case .historyTips(_, let tips): return tips
        case .error(_, let code, let message): throw RemoteError(code: code, message: message)
        default: throw ProtocolError.unexpected("in a history tips answer")
        }
    }

    /// A page of `node`'s authored chain, newest first: from its tip, or below `below`, stopping
    /// before `after`; at most `limit` commits (more is a broken answer).
    func historyChain(node: String, below: String, after: String, limit: Int) throws -> (commits: [String], reachedAfter: Bool) {
        try beforeRequest?()
        let id = session.newRequestID()
        try session.send(.historyChainRequest(id: id, folder: folder, node: node, below: below, after: after, limit: UInt32(limit)))
        switch try session.next(for: id) {
        case .historyChain(_, let commits, let reached):
            guard commits.count <= limit else { throw ProtocolError.malformed("more commits than asked for") }
            return (commits, reached)
        case .error(_, let code, let message): throw RemoteError(code: code, message: message)
        default: throw ProtocolError.unexpected("in a history chain answer")
        }
    }

    /// Asks for a pack of the objects `ids` names and hands its bytes to `take` as they come; an
    /// answer above `limit` bytes breaks the link (nothing of it is kept: see `IncomingPack`).
    func objects(_ ids: [String], limit: Int64, take: ([UInt8]) throws -> Void) throws {
        try beforeRequest?()
        let id = session.newRequestID()
        try session.send(.objectsRequest(id: id, folder: folder, ids: ids))
        var total: Int64 = 0
        // A pack that `take` refuses is read to its end all the same: the link stays in step.
        var failure: Error?
        while true {
            switch try session.next(for: id) {
            case .data(_, let piece):
                total += Int64(piece.count)
                guard total <= limit else { throw ProtocolError.malformed("a pack larger than \(limit) bytes") }
                if failure == nil { do { try take(piece) } catch { failure = error } }
            case .end:
                if let failure { throw failure }
                return
            case .error(_, let code, let message): throw RemoteError(code: code, message: message)
            default: throw ProtocolError.unexpected("in a pack answer")
            }
        }
    }

    /// Sends the librsync signature in `signatureFD` and writes the peer's delta to `fd`.
    public func delta(_ path: String, hash: String, signature signatureFD: Int32, into fd: Int32, limit: Int64,
                      progress: ([UInt8]) throws -> Void = { _ in }) throws {
        try beforeRequest?()
        let id = session.newRequestID()
        try session.send(.deltaRequest(id: id, folder: folder, path: path, hash: hash))
        var buf = [UInt8](repeating: 0, count: Frame.chunkSize)
        while true {
            let n = try POSIX.read(signatureFD, into: &buf, path: "signature")
            if n == 0 { break }
            try session.send(.data(id: id, Array(buf.prefix(n))))
        }
        try session.send(.end(id: id))
        try receive(id, into: fd, limit: limit, progress: progress)
    }

    @discardableResult
    private func receive(_ id: UInt32, into fd: Int32, limit: Int64, progress: ([UInt8]) throws -> Void) throws -> Int64 {
        var total: Int64 = 0
        var failure: Error?
        // Where the disk's writeback was last started: every 8 MiB the pages written since go to
        // disk while the next ones come (the fsync before the rename waits for the rest only).
        let start = lseek(fd, 0, SEEK_CUR)
        var flushed: Int64 = 0
        // Zeros skipped last: the file is shorter than what came until its length is set.
        var holeAtEnd = false
        // However the answer ends (a stop asked for, a broken link), the file is as long as what came.
        defer { if holeAtEnd { try? POSIX.endSparse(fd, path: "temporary file") } }
        while true {
            switch try session.next(for: id) {
            case .data(_, let bytes):
                total += Int64(bytes.count)
                if total - flushed >= 8 << 20, start >= 0 {
                    // The length follows what came, holes included: a cut transfer resumes there.
                    if holeAtEnd { try? POSIX.endSparse(fd, path: "temporary file") }
                    FileSystem.startWriteback(fd, offset: Int64(start) + flushed, length: total - flushed)
                    flushed = total
                }
                // A little more than announced: the file grew as it was read; the answer is read to
                // its end to stay in step. Far more: the peer is not answering, it is flooding.
                if total > limit + Self.flood { throw ProtocolError.malformed("content answer far larger than announced") }
                if failure != nil { continue }
                if total > limit {
                    failure = RemoteError(code: .badRequest, message: "peer sent more than the \(limit) bytes announced")
                    continue
                }
                do {
                    if start >= 0 {
                        // Where it stands: where it started and what was written since (no seek to find it).
                        let at = Int(start) + Int(total) - bytes.count
                        let skipped = try bytes.withUnsafeBytes { try POSIX.writeSparse(fd, $0, at: at, path: "temporary file") }
                        if !bytes.isEmpty { holeAtEnd = skipped }
                    } else {
                        try bytes.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: "temporary file") }
                    }
                } catch { failure = error }
                try progress(bytes) // a stop cuts the answer here: the link is not used again
            case .end:
                if let failure { throw failure }
                if holeAtEnd { try POSIX.endSparse(fd, path: "temporary file"); holeAtEnd = false }
                return total
            case .error(_, let code, let message):
                throw RemoteError(code: code, message: message)
            default:
                throw ProtocolError.unexpected("in a content answer")
            }
        }
    }
}
