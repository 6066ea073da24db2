import Foundation
import SyncCore
import SyncProtocol

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

    /// Frames sent while `gathering` wait here and go out together: when this much has gathered,
    /// when gathering ends (`gather`), and before the link waits for the peer (a side that waits
    /// for an answer has sent all it asked).
    private var pending: [UInt8] = []
    static let gatherLimit = 256 << 10
    private var gathering = false

    public init(_ transport: Transport, callTimeout: Double? = nil) { self.transport = transport; self.callTimeout = callTimeout }

    public func send(_ message: Message) throws {
        let frame = message.framed()
        bytesOut += Int64(frame.count)
        if gathering && pending.count + frame.count < Self.gatherLimit {
            pending += frame
        } else if pending.isEmpty {
            try transport.write(frame)
        } else {
            pending += frame
            try flush()
        }
    }

    /// Sends what `body` sends in as few writes as its size allows (one for a few kilobytes, where
    /// a write each costs a system call, an SSH packet and a wake-up of the other side per frame).
    /// Unless `holding` (the caller flushes, or waits for the peer, soon after), nothing it sends
    /// waits past its end.
    public func gather<T>(holding: Bool = false, _ body: () throws -> T) throws -> T {
        let outer = gathering
        gathering = true
        defer { gathering = outer }
        let result = try body()
        if !outer && !holding { try flush() }
        return result
    }

    /// Writes the gathered frames.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: pending.count <= Self.gatherLimit * 2) }
        try transport.write(pending)
    }

    /// The next message if all of it is here now (read without waiting); nil otherwise.
    public func receiveIfHere() throws -> Message? {
        func complete() -> Bool {
            guard buffer.count - start >= 4 else { return false }
            let header = Array(buffer[start..<start + 4])
            guard let length = try? Frame.length(ofHeader: header) else { return true } // receive says why
            return buffer.count - start - 4 >= length
        }
        if !complete() && !(takeAvailable() && complete()) { return nil }
        return try receive()
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
        try flush()
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
            // About to wait for the peer: what was gathered goes first.
            try flush()
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
