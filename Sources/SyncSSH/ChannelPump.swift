import CSSH2
import Foundation

/// Moves an exec channel's bytes on a thread of its own once the command runs, so that libssh2's
/// work (1.10 decrypts one 16-byte block per call: half the pulling process's time in a bulk pull)
/// runs beside whatever the caller does with the bytes. The thread reads ahead up to
/// `inboundLimit` bytes (the SSH window holds the peer back beyond) and sends what callers queue;
/// a caller that writes waits only when `outboundLimit` bytes are queued. While it runs, only its
/// thread touches the session; `stop` waits for it and hands the session back, in blocking mode.
final class ChannelPump: @unchecked Sendable {
    static let inboundLimit = 32 << 20
    static let outboundLimit = 1 << 20
    /// What one read of the channel takes at most.
    static let readSize = 256 << 10

    private let session: OpaquePointer
    private let channel: OpaquePointer
    private let socket: Int32
    private let host: String
    /// How long a caller waits for bytes to come or for room to queue its own.
    private let timeout: Double

    private let condition = NSCondition()
    /// Bytes read and not taken yet, in the arrays they came in: those from `head` on, the first
    /// of them from `offset`.
    private var inbound: [[UInt8]] = []
    private var head = 0
    private var offset = 0
    private var inboundBytes = 0
    /// Bytes queued and not handed to libssh2 yet.
    private var outbound: [UInt8] = []
    /// Bytes handed to the thread and not yet all sent.
    private var sending = false
    /// The command's standard output ended (or failed: `failure` says why).
    private var ended = false
    private var failure: String?
    private var stopping = false
    private var stopped = false
    /// The command's standard error so far, at most 64 KiB.
    private(set) var errorBytes: [UInt8] = []
    /// Whether `ready` holds a count now.
    private var signalled = false

    /// Readable while bytes wait to be taken or the output has ended: the transport's descriptor
    /// (a pipe holding one byte then, none otherwise).
    let ready: Int32
    private let readyEnd: Int32
    /// Wakes the thread from its poll: bytes queued, room made, a stop.
    private let wake: Int32
    private let wakeEnd: Int32

    init(session: OpaquePointer, channel: OpaquePointer, socket: Int32, host: String, timeout: Double) throws {
        self.session = session
        self.channel = channel
        self.socket = socket
        self.host = host
        self.timeout = timeout
        (ready, readyEnd) = try Self.pipe(host: host)
        do { (wake, wakeEnd) = try Self.pipe(host: host) } catch { close(ready); close(readyEnd); throw error }
        libssh2_session_set_blocking(session, 0)
        let thread = Thread { [self] in run() }
        thread.name = "ssh \(host)"
        thread.start()
    }

    deinit {
        for fd in [ready, readyEnd, wake, wakeEnd] { close(fd) }
    }

    /// A pipe whose ends never block and are not inherited: (read end, write end).
    private static func pipe(host: String) throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else {
            throw SSHError(host: host, message: "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }

    // MARK: The caller's side

    /// Up to `max` bytes, waiting up to the timeout for the first; empty at the output's end.
    func read(max: Int) throws -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while inboundBytes == 0 && !ended {
            if !condition.wait(until: deadline) && inboundBytes == 0 && !ended {
                throw SSHError(host: host, message: "read failed: nothing came for \(Int(timeout.rounded())) s")
            }
        }
        return try take(max: max)
    }

    /// What has come, without waiting: nil when nothing is there, empty at the output's end.
    func readAvailable(max: Int) throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        if inboundBytes == 0 && !ended { return nil }
        return try take(max: max)
    }

    /// Takes up to `max` bytes of `inbound` (the lock held, something there or the end).
    private func take(max: Int) throws -> [UInt8] {
        guard inboundBytes > 0 else {
            if let failure { throw SSHError(host: host, message: failure) }
            return []
        }
        let first = inbound[head]
        let out: [UInt8]
        if offset == 0 && first.count <= max {
            out = first
            inbound[head] = []
            head += 1
        } else {
            let n = Swift.min(max, first.count - offset)
            out = Array(first[offset..<offset + n])
            offset += n
            if offset == first.count { inbound[head] = []; head += 1; offset = 0 }
        }
        if head == inbound.count || head >= 1024 {
            inbound.removeFirst(head)
            head = 0
        }
        let wasFull = inboundBytes >= Self.inboundLimit
        inboundBytes -= out.count
        if inboundBytes == 0 && !ended { signal(false) }
        if wasFull && inboundBytes < Self.inboundLimit { poke() }
        return out
    }

    /// Queues `bytes` to be sent, waiting up to the timeout while the queue is full.
    func write(_ bytes: [UInt8]) throws {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while failure == nil && !outbound.isEmpty && outbound.count + bytes.count > Self.outboundLimit {
            if !condition.wait(until: deadline) && failure == nil && !outbound.isEmpty
                && outbound.count + bytes.count > Self.outboundLimit {
                throw SSHError(host: host, message: "write failed: the peer took nothing for \(Int(timeout.rounded())) s")
            }
        }
        if let failure { throw SSHError(host: host, message: failure) }
        if outbound.isEmpty { poke() }
        outbound += bytes
    }

    /// Waits up to `draining` seconds (at most the timeout) for what was queued to be sent (unless
    /// the link failed), then for the thread to end; the session is the caller's again, in
    /// blocking mode. Stopping twice does nothing.
    func stop(draining: Double) {
        condition.lock()
        let deadline = Date(timeIntervalSinceNow: Swift.min(draining, timeout))
        while failure == nil && !stopped && (!outbound.isEmpty || sending) {
            if !condition.wait(until: deadline) { break }
        }
        stopping = true
        poke()
        while !stopped { condition.wait() }
        condition.unlock()
        libssh2_session_set_blocking(session, 1)
    }

    // MARK: The thread's side

    /// A libssh2 call that stopped with a packet half sent (the socket was full). libssh2 1.10
    /// sends one packet at a time and refuses another until that one is finished by the same call
    /// again: a read would fail sending its window adjustment while a write is half sent, and a
    /// write while a read's adjustment is. Only the owing call runs until the socket takes the rest.
    private enum Owed { case nothing, write, read }

    private func run() {
        var pending: [UInt8] = []
        var sent = 0
        var owed = Owed.nothing
        /// Where standard error is read to: as large as a read of standard output, since libssh2
        /// sizes a window adjustment by the read that asks for it, and counts the one that finishes
        /// it, which may be the other stream's (different sizes would skew its count of the window
        /// the peer has, until the peer waits for an adjustment that never comes).
        var errorBuffer = [UInt8](repeating: 0, count: Self.readSize)
        /// Whether the last pass found bytes waiting in libssh2 and went round again for them.
        var lookedAgain = false
        while true {
            condition.lock()
            if stopping { break }
            if sent == pending.count && !outbound.isEmpty {
                swap(&pending, &outbound)
                outbound.removeAll(keepingCapacity: true)
                sent = 0
                condition.broadcast()
            }
            sending = sent < pending.count
            if !sending { condition.broadcast() }
            let room = !ended && inboundBytes < Self.inboundLimit
            condition.unlock()

            var busy = false
            var problem: String?
            /// libssh2 said neither "more later" nor "the end": look again soon rather than wait.
            var unsure = false
            while owed != .read && sent < pending.count {
                let n = pending.withUnsafeBytes { p in
                    libssh2_channel_write_ex(channel, 0, p.baseAddress!.advanced(by: sent).assumingMemoryBound(to: CChar.self), pending.count - sent)
                }
                if n == Int(LIBSSH2_ERROR_EAGAIN) { owed = halfSent() ? .write : .nothing; break }
                if n < 0 { problem = "write failed: \(lastError())"; break }
                owed = .nothing
                if n == 0 { break }
                sent += n
                busy = true
            }
            // A read owed is finished even without room: it sends what it began.
            if problem == nil && (room || owed == .read) && owed != .write {
                let (result, chunk) = readOutput()
                switch result {
                case .read:
                    owed = .nothing
                    condition.lock()
                    inbound.append(chunk)
                    inboundBytes += chunk.count
                    signal(true)
                    condition.broadcast()
                    condition.unlock()
                    busy = true
                case .none(let blocked):
                    owed = blocked && halfSent() ? .read : .nothing
                    if owed == .nothing {
                        switch takeStandardError(&errorBuffer) {
                        case .failed(let message): problem = message
                        case .none(let blocked): owed = blocked && halfSent() ? .read : .nothing
                        case .read: break
                        }
                    }
                    unsure = !blocked
                    if owed == .nothing && libssh2_channel_eof(channel) != 0 {
                        condition.lock()
                        ended = true
                        signal(true)
                        condition.broadcast()
                        condition.unlock()
                        busy = true
                        unsure = false
                    }
                case .failed(let message):
                    problem = message
                }
            }
            if let problem {
                condition.lock()
                failure = problem
                ended = true
                signal(true)
                condition.broadcast()
                break
            }
            if busy { lookedAgain = false; continue }
            // A read of one stream takes in from the socket what came for the other (standard
            // output's end, say, while standard error was read): it waits in libssh2, where no
            // poll sees it. Once more for it, then a short sleep if it is still not read.
            if room && owed == .nothing && queued() > 0 {
                if !lookedAgain { lookedAgain = true; continue }
                unsure = true
            }
            lookedAgain = false
            wait(reading: room, sending: sent < pending.count, owing: owed != .nothing, patience: unsure ? 10 : -1)
        }
        // The lock is held here.
        stopped = true
        sending = false
        condition.broadcast()
        condition.unlock()
    }

    /// The bytes of the channel (either stream) that libssh2 holds read and not yet handed over.
    private func queued() -> UInt {
        var available: UInt = 0
        _ = libssh2_channel_window_read_ex(channel, &available, nil)
        return available
    }

    /// Whether libssh2's last call left a packet half sent (it waits to write to the socket).
    private func halfSent() -> Bool {
        libssh2_session_block_directions(session) & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0
    }

    /// How a read ended: with `n` bytes, with none (`blocked`: libssh2 waits on the socket), or failed.
    private enum Outcome { case read(Int), none(blocked: Bool), failed(String) }

    private func outcome(_ n: Int) -> Outcome {
        if n == Int(LIBSSH2_ERROR_EAGAIN) || n == 0 { return .none(blocked: n != 0) }
        if n < 0 { return .failed("read failed: \(lastError())") }
        return .read(n)
    }

    /// One read of standard output, into a new array.
    private func readOutput() -> (Outcome, [UInt8]) {
        var n = 0
        var chunk = [UInt8](unsafeUninitializedCapacity: Self.readSize) { buffer, count in
            n = buffer.withMemoryRebound(to: CChar.self) { libssh2_channel_read_ex(channel, 0, $0.baseAddress!, Self.readSize) }
            count = Swift.max(n, 0)
        }
        // A short read would hold its whole buffer while it waits: keep only its bytes.
        if n > 0 && n < Self.readSize / 4 { chunk = Array(chunk) }
        return (outcome(n), chunk)
    }

    /// Moves what standard error holds now into `errorBytes` (libssh2 reports the output's end
    /// only once no data of the channel is pending, standard error's too); how the last read ended.
    private func takeStandardError(_ buffer: inout [UInt8]) -> Outcome {
        while true {
            let n = buffer.withUnsafeMutableBytes { libssh2_channel_read_ex(channel, 1, $0.baseAddress!.assumingMemoryBound(to: CChar.self), Self.readSize) }
            guard n > 0 else { return outcome(n) }
            condition.lock()
            if errorBytes.count < 65536 { errorBytes += buffer.prefix(Swift.min(n, 65536 - errorBytes.count)) }
            condition.unlock()
        }
    }

    /// Sleeps until the socket can move what libssh2 waits for (while reading ahead or sending),
    /// a caller pokes, or `patience` ms pass (-1: no limit). Every read went on until libssh2 had
    /// emptied the socket, and what a read of the other stream took in was looked for (`queued`),
    /// so nothing libssh2 holds is left waiting behind a poll. With nothing to read or send, the socket is not watched (at its end it is always readable);
    /// `owing` a half-sent packet, only its room to write is.
    private func wait(reading: Bool, sending: Bool, owing: Bool, patience: Int32) {
        var events: Int32 = owing ? Int32(POLLOUT) : reading ? Int32(POLLIN) : 0
        if !owing && (reading || sending) {
            let directions = libssh2_session_block_directions(session)
            if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int32(POLLIN) }
            if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int32(POLLOUT) }
        }
        var fds = [pollfd(fd: events == 0 ? -1 : socket, events: Int16(events), revents: 0),
                   pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 2, patience)
        var drain = [UInt8](repeating: 0, count: 64)
        while Glibc.read(wake, &drain, 64) == 64 {}
    }

    /// Wakes the thread (a full pipe is awake already).
    private func poke() {
        var one: UInt8 = 1
        _ = Glibc.write(wakeEnd, &one, 1)
    }

    /// Makes `ready` readable or not (the lock held).
    private func signal(_ on: Bool) {
        guard on != signalled else { return }
        signalled = on
        var byte: UInt8 = 1
        if on { _ = Glibc.write(readyEnd, &byte, 1) } else { _ = Glibc.read(ready, &byte, 1) }
    }

    private func lastError() -> String {
        var msg: UnsafeMutablePointer<CChar>?
        var len: Int32 = 0
        _ = libssh2_session_last_error(session, &msg, &len, 0)
        return msg.map { String(cString: $0) } ?? "unknown error"
    }
}
