import Foundation
import Testing

/// The directory that holds the built executables: the test runner is built beside them.
let binDirectory: String = {
    if let d = ProcessInfo.processInfo.environment["SYNC_BIN"], !d.isEmpty { return d }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = (exe as NSString).deletingLastPathComponent
    // On some platforms the runner lives inside a bundle below the build directory.
    while !FileManager.default.fileExists(atPath: dir + "/sync-commit"), dir.count > 1 {
        dir = (dir as NSString).deletingLastPathComponent
    }
    return dir
}()

/// What a finished process left.
struct Outcome: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// One node on this machine: its own state directory and a place for its folders.
final class Node {
    let base: String
    let stateDir: String
    var extraEnvironment: [String: String] = [:]

    init() throws {
        base = (NSTemporaryDirectory() as NSString).resolvingSymlinksInPath + "/sync-e2e-" + UUID().uuidString
        stateDir = base + "/state"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    }

    deinit {
        // Make everything removable again, even what a test locked.
        _ = try? Node.shell("chmod -R u+rwx '\(base)' 2>/dev/null; rm -rf '\(base)'", environment: [:])
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SYNC_DIR"] = stateDir
        env["PATH"] = binDirectory + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        for (k, v) in extraEnvironment { env[k] = v }
        return env
    }

    /// Runs `tool` (e.g. `sync-init` or `sync`) from the build directory.
    @discardableResult
    func run(_ tool: String, _ args: [String], stdin: String? = nil, timeout: Double = 600) throws -> Outcome {
        try Node.execute(binDirectory + "/" + tool, args, environment: environment, stdin: stdin, timeout: timeout)
    }

    /// Starts `tool` and kills it with SIGKILL after `delay` seconds; whether it was still running.
    func killed(_ tool: String, _ args: [String], after delay: Double) throws -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binDirectory + "/" + tool)
        p.arguments = args
        p.environment = environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(useconds_t(delay * 1_000_000))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return p.terminationReason == .uncaughtSignal
    }

    /// Runs a shell command line with this node's environment.
    @discardableResult
    func sh(_ command: String) throws -> Outcome {
        try Node.execute("/bin/sh", ["-c", command], environment: environment, stdin: nil, timeout: 600)
    }

    static func shell(_ command: String, environment: [String: String]) throws -> Outcome {
        try execute("/bin/sh", ["-c", command], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                    stdin: nil, timeout: 600)
    }

    static func execute(_ path: String, _ args: [String], environment: [String: String], stdin: String?,
                        timeout: Double) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = environment
        // Files rather than pipes: no deadlock however much a tool writes.
        let tmp = NSTemporaryDirectory() + "/sync-e2e-out-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: tmp + ".1", contents: nil)
        _ = FileManager.default.createFile(atPath: tmp + ".2", contents: nil)
        _ = FileManager.default.createFile(atPath: tmp + ".0", contents: Data((stdin ?? "").utf8))
        defer { for s in [".0", ".1", ".2"] { try? FileManager.default.removeItem(atPath: tmp + s) } }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp + ".1"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp + ".2"))
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : try FileHandle(forReadingFrom: URL(fileURLWithPath: tmp + ".0"))
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if Date() > deadline { p.terminate(); Issue.record("\(path) \(args) timed out"); break }
            usleep(5_000)
        }
        p.waitUntilExit()
        try out.close(); try err.close()
        return Outcome(status: p.terminationStatus,
                       stdout: String(decoding: FileManager.default.contents(atPath: tmp + ".1") ?? Data(), as: UTF8.self),
                       stderr: String(decoding: FileManager.default.contents(atPath: tmp + ".2") ?? Data(), as: UTF8.self))
    }

    /// Makes a directory for a folder and registers it; returns its path and id.
    func folder(_ name: String) throws -> (path: String, id: String) {
        let path = base + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try run("sync-init", [path])
        #expect(r.status == 0, "\(r)")
        return (path, r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// The folder's history repository, for plain git.
    func historyDirectory(_ id: String) -> String { stateDir + "/folders/" + id + "/history.git" }

    /// `git` on the folder's history; nil when git is not installed.
    func git(_ id: String, _ args: String) throws -> Outcome {
        try sh("git --git-dir='\(historyDirectory(id))' \(args)")
    }

    /// Whether the folder's files are exactly what the history's last commit holds, asked of git
    /// itself with a throw-away index: the independent check of what we recorded.
    func worktreeMatchesHead(_ id: String, _ path: String) throws -> Outcome {
        let index = base + "/check-index-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: index) }
        return try sh("""
            export GIT_INDEX_FILE='\(index)' GIT_DIR='\(historyDirectory(id))' GIT_WORK_TREE='\(path)'
            git read-tree HEAD && git update-index -q --refresh >/dev/null; \
            git status --porcelain --untracked-files=all --ignored=no -- . ':!.syncignore'
            """)
    }

    /// A listing of every file under the state directory with its size and modification time, and
    /// of every directory (whose times change when SQLite opens and closes its journal for a read).
    func stateSnapshot() throws -> String {
        try sh("cd '\(stateDir)' 2>/dev/null && { find . -type d; find . ! -type d -printf '%p %s %T@\\n'; } | sort").stdout
    }
}

/// Whether a program is on PATH.
func have(_ program: String) -> Bool {
    (try? Node.shell("command -v \(program)", environment: [:]).status) == 0
}
