import Foundation
import Testing

/// A node with its own OpenSSH sshd on 127.0.0.1: own port, host key, config, and
/// AuthorizedKeysFile = the file its `sync keys` manages (SYNC_AUTHORIZED_KEYS).
final class PeerNode {
    let node: Node
    let port: Int
    let sshdDirectory: String
    var authorizedKeys: String { sshdDirectory + "/authorized_keys" }
    private(set) var sshd: Int32?
    /// The pid of this node's `sync up`, while it runs.
    private(set) var daemon: Int32?

    /// Whether this machine can run the multi-node tests (sshd, ssh-keygen, root for sshd's privilege separation).
    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") && have("ssh-keygen") }

    /// `serveEnvironment` is given to every command sshd runs for a peer (sync-serve), by SetEnv.
    init(serveEnvironment: [String: String] = [:]) throws {
        node = try Node()
        sshdDirectory = node.base + "/sshd"
        port = try PeerNode.freePort()
        try FileManager.default.createDirectory(atPath: sshdDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: node.base + "/home/.ssh", withIntermediateDirectories: true)
        node.extraEnvironment["SYNC_AUTHORIZED_KEYS"] = authorizedKeys
        node.extraEnvironment["HOME"] = node.base + "/home"
        let keygen = try node.sh("ssh-keygen -q -t ed25519 -N '' -f '\(sshdDirectory)/host_key' && mkdir -p /run/sshd")
        #expect(keygen.status == 0, "\(keygen)")
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(sshdDirectory)/host_key
            AuthorizedKeysFile \(authorizedKeys)
            PidFile none
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            LogLevel ERROR
            MaxStartups 100:30:200
            \(Self.setEnv(serveEnvironment))
            """.write(toFile: sshdDirectory + "/sshd_config", atomically: true, encoding: .utf8)
        try start()
    }

    deinit { crash(); stop() }

    /// The one SetEnv line of a test sshd (sshd takes the first line of a keyword only). The login
    /// shell may run a shell init (pyenv's rehash takes a lock file, and waits a minute for it
    /// when a killed session left it): that wait is cut to a second.
    static func setEnv(_ extra: [String: String]) -> String {
        let all = extra.merging(["PYENV_REHASH_TIMEOUT": "1"]) { mine, _ in mine }
        return "SetEnv " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// Starts `sync up` for this node (detached, its log in BASE/daemon.log); waits until it runs.
    func up() throws {
        let r = try node.sh("""
            SYNC_LOG_LEVEL=debug sync up --retry-max 2s --stop-timeout 20s >>'\(node.base)/daemon.log' 2>&1 </dev/null & echo $!
            """)
        daemon = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(waitFor(10) { FileManager.default.fileExists(atPath: self.node.stateDir + "/run/daemon.pid") }, "sync up did not start")
    }

    /// Stops `sync up` with SIGTERM and waits for its clean end (it removes its pid file last).
    func down() {
        guard let pid = daemon else { return }
        kill(pid, SIGTERM)
        #expect(waitFor(30) { !FileManager.default.fileExists(atPath: self.node.stateDir + "/run/daemon.pid") },
                "sync up did not stop: \(self.log)")
        daemon = nil
    }

    /// Kills this node as a power cut would: `sync up`, everything under it and every sync-serve its
    /// sshd runs, with SIGKILL (sshd itself stays). Only the toolkit's processes: a shell of an ssh
    /// session killed in its init could leave a lock of the machine's shell setup behind.
    func crash() {
        var victims: [Int32] = []
        if let d = daemon { victims.append(d) }
        if let s = sshd { victims += PeerNode.descendants(of: s) }
        if let d = daemon { victims += PeerNode.descendants(of: d) }
        for p in victims where Self.isToolkit(p) { kill(p, SIGKILL) }
        daemon = nil
    }

    /// Whether `pid` runs one of the toolkit's programs.
    static func isToolkit(_ pid: Int32) -> Bool {
        let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        let program = (cmd.split(separator: "\0").first.map(String.init) ?? "") as NSString
        return program.lastPathComponent == "sync" || program.lastPathComponent.hasPrefix("sync-")
    }

    var log: String { (try? String(contentsOfFile: node.base + "/daemon.log", encoding: .utf8)) ?? "" }

    /// Every process below `pid`, from /proc.
    static func descendants(of pid: Int32) -> [Int32] {
        var parent: [Int32: Int32] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let p = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let pp = Int32(fields[1]) { parent[p] = pp }
        }
        var out: [Int32] = [], frontier = [pid]
        while let p = frontier.popLast() {
            let children = parent.filter { $0.value == p }.map(\.key)
            out += children
            frontier += children
        }
        return out
    }

    /// Adds `other`'s copy of `folder` as a peer of this node's.
    func addPeer(_ other: PeerNode, _ folder: String) throws {
        let r = try node.run("sync-peer", ["add", folder, other.remote(folder)])
        #expect(r.status == 0, "\(r)")
    }

    /// Starts sshd (detached, through a shell: a long-lived Foundation Process child can stall
    /// the runner's other children) and waits until it accepts connections.
    func start() throws {
        let r = try node.sh("/usr/sbin/sshd -D -e -f '\(sshdDirectory)/sshd_config' >'\(sshdDirectory)/log' 2>&1 </dev/null & echo $!")
        sshd = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if PeerNode.accepts(port) { return }
            usleep(20_000)
        }
        Issue.record("sshd on port \(port) did not start: \((try? String(contentsOfFile: sshdDirectory + "/log", encoding: .utf8)) ?? "")")
    }

    /// Stops sshd (links already open stay up, as with a real sshd).
    func stop() {
        guard let pid = sshd else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        // The listener is gone when the port refuses (a reaped-late zombie would fool kill(pid, 0)).
        while PeerNode.accepts(port), Date() < deadline { usleep(10_000) }
        sshd = nil
    }

    /// The remote spec other nodes use for a folder of this node.
    func remote(_ folder: String) -> String { "ssh://127.0.0.1:\(port)/\(folder)" }

    /// This node's public key line.
    func publicKey() throws -> String {
        let r = try node.run("sync-keys", ["id"])
        return r.lines[1]
    }

    /// Lets `other` see `folder` here.
    func allow(_ other: PeerNode, _ folder: String) throws {
        let r = try node.run("sync-keys", ["allow", folder, try other.publicKey()])
        #expect(r.status == 0, "\(r)")
    }

    /// Registers a directory under `id` (the folder a peer shares).
    func join(_ name: String, id: String) throws -> String {
        let path = node.base + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try node.run("sync-init", ["--id", id, path])
        #expect(r.status == 0, "\(r)")
        return path
    }

    /// `sync keys invite` for `folder`, naming this node's sshd; the token (or the failed outcome).
    func invite(_ folder: String, _ extra: [String] = []) throws -> Outcome {
        try node.run("sync-keys", ["invite", folder, "--address", "root@127.0.0.1:\(port)",
                                   "--host-key", sshdDirectory + "/host_key.pub"] + extra)
    }

    @discardableResult
    func pull(_ from: PeerNode, _ folder: String, _ extra: [String] = []) throws -> Outcome {
        try node.run("sync-pull", extra + [from.remote(folder)])
    }

    @discardableResult
    func commit(_ path: String) throws -> Outcome { try node.run("sync-commit", [path]) }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// Waits up to `seconds` for `condition`; whether it came true.
func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// What a folder holds, independent of times and inode numbers: kind, path, link target, the
/// executable bit and a content hash of every entry (temporary files included, so that a test sees them).
func contents(_ dir: String) throws -> String {
    try Node.shell("""
        cd '\(dir)' && { find . -mindepth 1 -printf '%y %p %l\\n'; find . -type f -perm -u+x -printf 'x %p\\n'; \
        find . -type f -exec sha1sum {} +; } | LC_ALL=C sort
        """, environment: [:]).stdout
}
