import CSSH2
import Glibc

/// A failed SSH step: what was being done, with whom, and why.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    /// What callers branch on.
    public enum Kind: Sendable {
        /// The server refused our key.
        case authentication
        /// Anything else: no route, no handshake, a broken channel.
        case other
    }
    public let host: String
    public let message: String
    public let kind: Kind
    public var description: String { "host \(host): \(message)" }
    public init(host: String, message: String, kind: Kind = .other) { self.host = host; self.message = message; self.kind = kind }
}

/// A server's host key as it was presented during the key exchange.
public struct HostKey: Sendable, Equatable {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, ...
    public let type: String
    /// The SSH wire blob of the key.
    public let blob: [UInt8]
    public init(type: String, blob: [UInt8]) { self.type = type; self.blob = blob }
}

/// One SSH connection with one exec channel, over libssh2. Owns its socket, session and channel,
/// and frees them on `close()` or `deinit`. Blocking until the command runs; from then on a
/// `ChannelPump` thread moves the channel's bytes, until `finish`, `close` or `standardError`.
public final class SSHConnection {
    public let host: String
    private let timeoutSeconds: Int
    private var pump: ChannelPump?
    private var socket: Int32 = -1
    private var session: OpaquePointer?
    private var channel: OpaquePointer?
    /// What the command wrote to standard error, as the pump took it; at most 64 KiB.
    private var errorBytes: [UInt8] = []

    /// Connects to `host:port` and completes the key exchange; `verify` decides whether the
    /// host key is acceptable (it throws to refuse) before anything else is sent.
    public init(host: String, port: Int, timeoutSeconds: Int = 600, verify: (HostKey) throws -> Void) throws {
        self.host = host
        self.timeoutSeconds = timeoutSeconds
        guard SSHLibrary.ready else { throw SSHError(host: host, message: "libssh2 failed to initialize") }
        socket = try Self.connect(host: host, port: port)
        guard let s = libssh2_session_init_ex(nil, nil, nil, nil) else {
            close(); throw SSHError(host: host, message: "cannot create an SSH session")
        }
        session = s
        libssh2_session_set_blocking(s, 1)
        libssh2_session_set_timeout(s, timeoutSeconds * 1000)
        // Ask for the key type a node pins; fall back to what the server has.
        _ = libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY,
                                        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa")
        // libssh2 1.10 runs its cipher one 16-byte block per call, so the block cipher's rounds
        // count: AES-128 first (10 rounds, not 14). bench/link measures the choice.
        for method in [LIBSSH2_METHOD_CRYPT_CS, LIBSSH2_METHOD_CRYPT_SC] {
            _ = libssh2_session_method_pref(s, method, "aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,aes192-cbc,aes128-cbc")
        }
        guard libssh2_session_handshake(s, socket) == 0 else {
            let m = lastError(); close(); throw SSHError(host: host, message: "SSH handshake failed: \(m)")
        }
        var length = 0, type: Int32 = 0
        guard let raw = libssh2_session_hostkey(s, &length, &type) else {
            close(); throw SSHError(host: host, message: "the server sent no host key")
        }
        let blob = raw.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
        let names = [1: "ssh-rsa", 2: "ssh-dss", 3: "ecdsa-sha2-nistp256", 4: "ecdsa-sha2-nistp384",
                     5: "ecdsa-sha2-nistp521", 6: "ssh-ed25519"]
        do { try verify(HostKey(type: names[Int(type)] ?? "unknown", blob: blob)) } catch { close(); throw error }
    }

    /// Authenticates as `user` with an OpenSSH private key file.
    public func authenticate(user: String, privateKey: String, publicKey: String?) throws {
        guard let s = session else { throw SSHError(host: host, message: "not connected") }
        let r = libssh2_userauth_publickey_fromfile_ex(s, user, UInt32(user.utf8.count), publicKey, privateKey, nil)
        guard r == 0 else {
            throw SSHError(host: host, message: "permission denied for user \(user) with key \(privateKey) (\(lastError()))", kind: .authentication)
        }
    }

    /// Opens the channel and runs `command` on the server (a forced command replaces it there).
    public func exec(_ command: String) throws {
        guard let s = session else { throw SSHError(host: host, message: "not connected") }
        guard let ch = libssh2_channel_open_ex(s, "session", 7, 16 << 20, 32768, nil, 0) else {
            throw SSHError(host: host, message: "cannot open a channel: \(lastError())")
        }
        channel = ch
        guard libssh2_channel_process_startup(ch, "exec", 4, command, UInt32(command.utf8.count)) == 0 else {
            throw SSHError(host: host, message: "the server refused to run a command: \(lastError())")
        }
        pump = try ChannelPump(session: s, channel: ch, socket: socket, host: host, timeout: Double(timeoutSeconds))
    }

    /// Ends the pump, once what it was given to send is sent or `draining` seconds have passed:
    /// the session is this thread's again.
    private func stopPump(draining: Double) {
        guard let p = pump else { return }
        p.stop(draining: draining)
        errorBytes += p.errorBytes.prefix(max(0, 65536 - errorBytes.count))
        pump = nil
    }

    /// Up to `max` bytes of the command's standard output; empty at its end.
    public func read(max: Int) throws -> [UInt8] {
        try running().read(max: max)
    }

    /// What the command's standard output holds now, without waiting: nil when nothing is there,
    /// empty at its end.
    public func readAvailable(max: Int) throws -> [UInt8]? {
        try running().readAvailable(max: max)
    }

    /// The pump of the running command.
    private func running() throws -> ChannelPump {
        guard let pump else { throw SSHError(host: host, message: "no command running") }
        return pump
    }

    /// For poll(2): the pump's descriptor that is readable while bytes wait (the socket before
    /// the command runs).
    public var descriptor: Int32 { pump?.ready ?? socket }

    /// Writes all of `bytes` to the command's standard input (queued: the pump sends them).
    public func write(_ bytes: [UInt8]) throws {
        try running().write(bytes)
    }

    /// What the command wrote to its standard error so far (read after its output ended).
    public func standardError() -> String {
        stopPump(draining: 0)
        guard let ch = channel else { return String(decoding: errorBytes, as: UTF8.self) }
        var out = errorBytes
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < 65536 {
            let n = buf.withUnsafeMutableBufferPointer { p in
                p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: 4096) { libssh2_channel_read_ex(ch, 1, $0, 4096) }
            }
            if n <= 0 { break }
            out += buf.prefix(n)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Sends end-of-file, waits for the command to end and returns its exit status.
    @discardableResult
    public func finish() -> Int32 {
        stopPump(draining: .infinity)
        guard let ch = channel else { return -1 }
        _ = libssh2_channel_send_eof(ch)
        _ = libssh2_channel_close(ch)
        _ = libssh2_channel_wait_closed(ch)
        return libssh2_channel_get_exit_status(ch)
    }

    /// Frees the channel, the session and the socket.
    public func close() {
        // A last frame (a goodbye) goes out if the peer takes it soon; a stuck peer is not waited for.
        stopPump(draining: 2)
        if let ch = channel { libssh2_channel_free(ch); channel = nil }
        if let s = session {
            _ = libssh2_session_disconnect_ex(s, SSH_DISCONNECT_BY_APPLICATION, "bye", "")
            libssh2_session_free(s)
            session = nil
        }
        if socket >= 0 { Glibc.close(socket); socket = -1 }
    }

    deinit { close() }

    private func lastError() -> String {
        guard let s = session else { return "no session" }
        var msg: UnsafeMutablePointer<CChar>?
        var len: Int32 = 0
        _ = libssh2_session_last_error(s, &msg, &len, 0)
        return msg.map { String(cString: $0) } ?? "unknown error"
    }

    private static func connect(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let r = getaddrinfo(host, String(port), &hints, &list)
        guard r == 0, let first = list else {
            throw SSHError(host: host, message: "cannot resolve: \(String(cString: gai_strerror(r)))")
        }
        defer { freeaddrinfo(list) }
        var lastErrno: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = Glibc.socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    return fd
                }
                lastErrno = errno
                Glibc.close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw SSHError(host: host, message: "cannot connect to port \(port): \(String(cString: strerror(lastErrno)))")
    }
}
