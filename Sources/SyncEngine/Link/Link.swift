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

    public init(_ transport: Transport, callTimeout: Double? = nil) { self.transport = transport; self.callTimeout = callTimeout }

    public func send(_ message: Message) throws {
        let frame = message.framed()
        try transport.write(frame)
        bytesOut += Int64(frame.count)
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
