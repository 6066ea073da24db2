import Foundation

/// `sync [--sync-dir DIR] CMD [ARGS]` runs `sync-CMD ARGS`, found beside this program first, then
/// on PATH, as git finds git-CMD. With no arguments it is coreutils' `sync`: it flushes file systems
/// and prints nothing, so that scripts that call `sync` keep working when this one shadows /bin/sync.
public enum Dispatcher {
    public static func main() -> Never {
        var args = Array(CommandLine.arguments.dropFirst())
        if args.isEmpty {
            Glibc.sync()
            exit(0)
        }
        if let code = coreutilsSync(args) { exit(code) }
        while let a = args.first, a.hasPrefix("-") {
            if a == "--sync-dir" || a.hasPrefix("--sync-dir=") {
                let value: String
                if a == "--sync-dir" {
                    guard args.count >= 2 else { fail("--sync-dir needs a directory", status: 2) }
                    value = args[1]
                    args.removeFirst(2)
                } else {
                    value = String(a.dropFirst("--sync-dir=".count))
                    args.removeFirst()
                }
                setenv("SYNC_DIR", value, 1)
            } else if a == "-h" || a == "--help" {
                print(usage())
                exit(0)
            } else if a == "--version" {
                print("sync \(Toolkit.version)")
                exit(0)
            } else {
                fail("unknown option '\(a)'\n\(usage())", status: 2)
            }
        }
        guard var command = args.first else { print(usage()); exit(2) }
        args.removeFirst()
        if command == "help" {
            guard let topic = args.first else { print(usage()); exit(0) }
            showManual(topic)
        }
        // `sync up` is the daemon's everyday name.
        if command == "up" { command = "daemon" }
        guard command.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), let tool = find("sync-" + command) else {
            fail(notACommand(command), status: 2)
        }
        execute(tool, ["sync-" + command] + args)
    }

    /// `sync -f|-d|--file-system|--data [FILE...]` and `sync FILE...` as coreutils handle them.
    static func coreutilsSync(_ args: [String]) -> Int32? {
        let flags: Set<String> = ["-f", "-d", "--file-system", "--data"]
        let first = args[0]
        guard flags.contains(first) || (first.contains("/") && FileManager.default.fileExists(atPath: first)) else { return nil }
        let dataOnly = first == "-d" || first == "--data"
        let fileSystem = first == "-f" || first == "--file-system"
        let files = args.filter { !flags.contains($0) }
        if files.isEmpty { Glibc.sync(); return 0 }
        var status: Int32 = 0
        for f in files {
            let fd = open(f, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 { warn("sync: error opening '\(f)': \(String(cString: strerror(errno)))"); status = 1; continue }
            let rc = fileSystem ? c_syncfs(fd) : dataOnly ? fdatasync(fd) : fsync(fd)
            if rc != 0 { warn("sync: error syncing '\(f)': \(String(cString: strerror(errno)))"); status = 1 }
            close(fd)
        }
        return status
    }

    /// The directory of this executable.
    static var ownDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    static var searchPath: [String] {
        [ownDirectory] + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
    }

    static func find(_ name: String) -> String? {
        for dir in searchPath where !dir.isEmpty {
            let p = dir + "/" + name
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// `sync-*` programs beside this one and on PATH, without the prefix.
    /// `'upp' is not a sync command. Did you mean 'up'? Known commands: ...`
    static func notACommand(_ name: String) -> String {
        let known = knownCommands().flatMap { $0 == "daemon" ? ["daemon", "up"] : [$0] } + ["help"]
        let near = known.map { ($0, editDistance($0, name)) }.filter { $0.1 <= max(1, min(2, name.count / 3)) }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
        let hint = near.isEmpty ? "" : " Did you mean \(near.prefix(3).map { "'\($0)'" }.joined(separator: " or "))?"
        return "'\(name)' is not a sync command.\(hint) Known commands: \(known.sorted().joined(separator: ", "))"
    }

    /// Levenshtein distance, for suggestions.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var diagonal = row[0]
            row[0] = i
            for j in 1...b.count {
                let above = row[j]
                row[j] = min(above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1))
                diagonal = above
            }
        }
        return row[b.count]
    }

    static func knownCommands() -> [String] {
        var names = Set<String>()
        for dir in searchPath {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasPrefix("sync-") {
                let name = f.dropFirst(5)
                guard f != "sync-docgen", !name.isEmpty,
                      name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else { continue }
                var st = stat()
                if stat(dir + "/" + f, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(dir + "/" + f, X_OK) == 0 {
                    names.insert(String(name))
                }
            }
        }
        return names.sorted()
    }

    static func usage() -> String {
        var lines = ["usage: sync [--sync-dir DIR] COMMAND [ARGS...]", "       sync              (no arguments: flush file systems, as coreutils sync)",
                     "       sync help COMMAND", "", "commands:"]
        for c in Toolkit.commands {
            var name = String(c.configuration.commandName!.dropFirst(5))
            if name == "daemon" { name = "up" }
            lines.append("  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) + (c.configuration.abstract))
        }
        return lines.joined(separator: "\n")
    }

    /// `sync help CMD`: the manual page when man can show it, else the command's --help.
    static func showManual(_ topic: String) -> Never {
        let page = topic.hasPrefix("sync") ? topic : "sync-" + topic
        guard let tool = find(page == "sync-up" ? "sync-daemon" : page) else {
            fail(notACommand(topic), status: 2)
        }
        let manDir = ((ownDirectory as NSString).deletingLastPathComponent as NSString).appendingPathComponent("share/man")
        let mans: [String] = ["/usr/bin/man", "/bin/man"]
        if let man = mans.first(where: { access($0, X_OK) == 0 }),
           FileManager.default.fileExists(atPath: manDir + "/man1/" + page + ".1") {
            setenv("MANPATH", manDir + ":" + (ProcessInfo.processInfo.environment["MANPATH"] ?? ""), 1)
            execute(man, ["man", page])
        }
        execute(tool, [page == "sync-up" ? "sync-daemon" : page, "--help"])
    }

    static func execute(_ path: String, _ argv: [String]) -> Never {
        var cargs = argv.map { strdup($0) } + [nil]
        execv(path, &cargs)
        fail("cannot run \(path): \(String(cString: strerror(errno)))", status: 1)
    }

    static func fail(_ message: String, status: Int32) -> Never {
        warn("sync: " + message)
        exit(status)
    }
}

@_silgen_name("syncfs")
private func c_syncfs(_ fd: Int32) -> Int32
