import Foundation
import Testing
@testable import SyncCore
@testable import SyncProtocol
@testable import SyncCommands
@testable import SyncEngine
import SyncSSH

/// A crafted peer over real sshd: a node allowed for a folder dials the other's sync-serve and
/// sends what no honest node sends. Each link ends (it never hangs), the serving node's disk and
/// processes stay within their budgets, and an honest pull afterwards works as before.
@Suite(.serialized, .enabled(if: PeerNode.available)) struct HostileLinkTests {
    /// Dials `a`'s sync-serve as `b` and hands over the session (the handshake done).
    func dial(_ b: PeerNode, _ a: PeerNode, _ folder: String) throws -> Dialer.Dialed {
        try Dialer(state: StateDirectory(root: b.node.stateDir)).dial(RemoteSpec(a.remote(folder)))
    }

    /// Sends raw bytes after the handshake, then waits for the link to end: true when it ended
    /// within `seconds` (the serving side gave up on the peer).
    func endsAfter(_ d: Dialer.Dialed, seconds: Double, _ bytes: [UInt8]) throws -> Bool {
        try? d.session.link.transport.write(bytes)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            do {
                if let more = try d.connection.readAvailable(max: 1 << 16) {
                    if more.isEmpty { return true }
                    continue
                }
            } catch { return true } // the channel is gone
            var p = pollfd(fd: d.connection.descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 100)
        }
        return false
    }

    func frame(_ m: Message) -> [UInt8] { let p = m.encoded(); return Frame.header(p.count) + p }

    @Test func aCraftedPeerCannotCrashStallOrFillANode() throws {
        let a = try PeerNode(serveEnvironment: ["SYNC_CALL_TIMEOUT": "2s", "SYNC_MAX_LINKS": "3"]), b = try PeerNode()
        let (pa, id) = try a.node.folder("shared")
        let pb = try b.join("shared", id: id)
        try a.allow(b, id)
        try a.node.sh("cd '\(pa)' && echo one > one.txt && head -c 300000 /dev/urandom > big.bin")
        #expect(try a.commit(pa).status == 0)
        let missing = FolderID.random().rawValue
        let hash = String(repeating: "a", count: 40)
        let stateBefore = try stateKiB(a)

        // Numbers out of range, a field past its bound, a request inside a delta request, garbage.
        let longPath = Message.contentRequest(id: 1, folder: id, path: String(repeating: "p", count: 5000), hash: hash, offset: 0)
        for (what, bytes) in [
            ("since at Int64.max", frame(.indexRequest(id: 1, folder: id, since: .max, limit: 10))),
            ("offset below zero", frame(.contentRequest(id: 1, folder: id, path: "one.txt", hash: hash, offset: -1))),
            ("a path past its bound", frame(longPath)),
            ("nested delta requests", frame(.deltaRequest(id: 1, folder: id, path: "big.bin", hash: hash))
                + frame(.deltaRequest(id: 3, folder: id, path: "big.bin", hash: hash))),
            ("a frame past the limit", [0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
            ("an unknown message", [0, 0, 0, 1, 0x77]),
            ("silence in the middle of a frame", [0, 0, 0, 100] + [UInt8](repeating: 1, count: 10)),
        ] {
            let d = try dial(b, a, id)
            #expect(try endsAfter(d, seconds: 10, bytes), "\(what): the link did not end")
            d.connection.close()
        }

        // A signature for a folder the peer may not see is read and dropped, never stored.
        let d = try dial(b, a, id)
        try d.session.send(.deltaRequest(id: 1, folder: missing, path: "x", hash: hash))
        for _ in 0..<80 { try d.session.send(.data(id: 1, [UInt8](repeating: 7, count: Frame.chunkSize))) }
        let stored = try a.node.sh("du -sk '\(a.node.stateDir)/tmp' 2>/dev/null | cut -f1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((Int(stored) ?? 0) < 1024, "\(stored) KiB of scratch files for a folder the peer may not see")
        // The server's memory stays that of an idle one: 20 MiB came through it, in frames.
        let peak = try a.node.sh("""
            for p in $(pgrep -f -- '[s]ync-serve --state-dir \(a.node.stateDir) '); do grep VmHWM /proc/$p/status; done | awk '{print $2}' | sort -n | tail -1
            """).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((Int(peak) ?? 0) > 0 && (Int(peak) ?? 0) < 96 << 10, "sync-serve peak RSS \(peak) KiB")
        try d.session.send(.end(id: 1))
        #expect(try d.session.next(for: 1) == .error(id: 1, code: .notFound, message: "not found"))
        d.connection.close()

        // A flood of links: the fourth of a peer's links held at once is refused.
        var held: [Dialer.Dialed] = []
        for _ in 0..<3 { held.append(try dial(b, a, id)) }
        #expect(throws: SyncError.self) { _ = try self.dial(b, a, id) }
        for h in held { h.connection.close() }

        // The node is still whole: an honest pull brings the folder, and no server is left running.
        #expect(waitFor(10) { (try? a.node.sh("pgrep -f -- '[s]ync-serve --state-dir \(a.node.stateDir) ' | wc -l").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == "0" })
        let pulled = try b.pull(a, id)
        #expect(pulled.status == 0, "\(pulled)")
        #expect(try contents(pb) == contents(pa))
        #expect(try a.node.sh("ls -A '\(a.node.stateDir)/tmp' 2>/dev/null | wc -l").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // Nothing of it stayed in A's state directory.
        let stateAfter = try stateKiB(a)
        #expect(stateAfter - stateBefore < 2048, "SYNC_DIR grew from \(stateBefore) to \(stateAfter) KiB")
    }

    /// The dialing side's link has a thread of its own that reads and writes for it: a serving
    /// side that falls silent after the handshake (its sync-serve stopped) is given up after the
    /// call timeout, with the host named, not waited for without end.
    @Test func aPeerThatFallsSilentIsGivenUpAfterTheCallTimeout() throws {
        let a = try PeerNode(), b = try PeerNode()
        let (pa, id) = try a.node.folder("shared")
        _ = try b.join("shared", id: id)
        try a.allow(b, id)
        try a.node.sh("cd '\(pa)' && echo one > one.txt")
        #expect(try a.commit(pa).status == 0)
        var dialer = Dialer(state: StateDirectory(root: b.node.stateDir))
        dialer.environment["SYNC_CALL_TIMEOUT"] = "2s"
        let d = try dialer.dial(RemoteSpec(a.remote(id)))
        defer { d.connection.close() }
        let serves = PeerNode.descendants(of: try #require(a.sshd)).filter {
            ((try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8)) ?? "").contains("sync-serve")
        }
        #expect(!serves.isEmpty)
        for p in serves { kill(p, SIGSTOP) }
        defer { for p in serves { kill(p, SIGCONT) } }
        let start = Date()
        var failure: Error?
        do { _ = try RemoteFolder(session: d.session, folder: id).index(since: 0, limit: 10) } catch { failure = error }
        let waited = Date().timeIntervalSince(start)
        #expect("\(failure.map { "\($0)" } ?? "no error")".contains("nothing came for 2 s"))
        #expect(waited >= 1.5 && waited < 10, "gave up after \(waited) s")
    }

    /// A session to `a`'s sshd whose command is forced to `command` for a key of its own (a line
    /// of A's authorized keys outside the block `sync keys` manages): a peer that runs anything at
    /// all where sync-serve should be. The command runs when this returns.
    func forced(_ a: PeerNode, _ command: String) throws -> SSHConnection {
        let key = a.node.base + "/forced_key"
        #expect(try a.node.sh("rm -f '\(key)' '\(key).pub' && ssh-keygen -q -t ed25519 -N '' -f '\(key)'").status == 0)
        let line = "command=\"\(command)\" " + (try String(contentsOfFile: key + ".pub", encoding: .utf8))
        let kept = ((try? String(contentsOfFile: a.authorizedKeys, encoding: .utf8)) ?? "")
            .split(separator: "\n").filter { !$0.hasPrefix("command=") }.map { $0 + "\n" }.joined()
        try (kept + line).write(toFile: a.authorizedKeys, atomically: true, encoding: .utf8)
        let c = try SSHConnection(host: "127.0.0.1", port: a.port, timeoutSeconds: 30) { _ in }
        try c.authenticate(user: String(cString: getpwuid(getuid())!.pointee.pw_name), privateKey: key, publicKey: key + ".pub")
        try c.exec("sync-serve")
        return c
    }

    /// Everything left of the command's standard output.
    func drain(_ c: SSHConnection) throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let b = try c.read(max: 1 << 20)
            if b.isEmpty { return out }
            out += b
        }
    }

    /// The dialing side's link thread reads ahead of its caller, but only so far: a peer sending
    /// faster than the puller takes its bytes is held back by the SSH window once the thread holds
    /// its bound (`ChannelPump.inboundLimit`, 32 MiB), and every byte still comes, in order, once
    /// they are taken. Watched from the peer's side: how much its command could write.
    @Test func aPeerThatSendsFasterThanItIsReadIsHeldBack() throws {
        let a = try PeerNode()
        let total = 256 << 20
        let c = try forced(a, "exec head -c \(total) /dev/zero")
        defer { c.close() }
        func written() -> Int? {
            let head = PeerNode.descendants(of: a.sshd ?? -1).first {
                ((try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8)) ?? "").hasPrefix("head\0")
            }
            let io = head.flatMap { try? String(contentsOfFile: "/proc/\($0)/io", encoding: .utf8) } ?? ""
            return io.split(separator: "\n").first { $0.hasPrefix("wchar:") }.flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) }
        }
        // Nothing is read here until what the peer wrote stops growing for 2 s.
        var last = -1, since = Date()
        let held = waitFor(60) {
            guard let w = written() else { return false }
            if w != last { last = w; since = Date() }
            return Date().timeIntervalSince(since) >= 2
        }
        #expect(held, "the peer was never held back: it wrote \(last) bytes")
        #expect(last >= 32 << 20 && last < 80 << 20, "the peer wrote \(last) bytes ahead of a caller that read nothing")
        var got = 0, zeros = true
        while true {
            let b = try c.read(max: 1 << 20)
            if b.isEmpty { break }
            got += b.count
            zeros = zeros && !b.contains { $0 != 0 }
        }
        #expect(got == total && zeros)
        #expect(c.finish() == 0)
    }

    /// A peer that writes standard error by the megabyte while its output is read: the link thread
    /// reads standard error too (else the SSH window would close and the output stall behind it),
    /// keeps its first 64 KiB and drops the rest.
    @Test func aPeerThatFloodsStandardErrorIsReadOnAndKeptShort() throws {
        let a = try PeerNode()
        let c = try forced(a, "head -c 67108864 /dev/zero >&2; echo done")
        defer { c.close() }
        let start = Date()
        #expect(String(decoding: try drain(c), as: UTF8.self) == "done\n")
        #expect(Date().timeIntervalSince(start) < 25, "the output took \(Date().timeIntervalSince(start)) s")
        let error = c.standardError()
        #expect(error.utf8.count == 65536 && !error.utf8.contains { $0 != 0 })
        #expect(c.finish() == 0)
    }

    func stateKiB(_ n: PeerNode) throws -> Int {
        Int(try n.node.sh("du -sk '\(n.node.stateDir)' | cut -f1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}
