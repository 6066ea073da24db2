import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncGit

/// The extra sections of a command's manual page, beside what the argument definitions say.
public struct Manual: Sendable {
    public var output: String?
    var exitStatus: String = "0 on success, 1 when the operation failed, 2 on a usage error."
    public var files: String?
    var examples: [(command: String, meaning: String)] = []
    var seeAlso: [String] = []
}

/// A toolkit command: an argument definition with a manual.
public protocol ToolCommand: ParsableCommand {
    static var manual: Manual { get }
}

extension ToolCommand {
    /// Parses the command line and runs the command. Usage errors exit with status 2, as STYLE.md
    /// asks (swift-argument-parser's own default is 64), with one line as every other error:
    /// `sync-log: --since someday: not a time (...) (see 'sync-log --help')`.
    public static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                let name = configuration.commandName ?? "sync"
                _ = writeAll("\(name): \(message(for: error)) (see '\(name) --help')\n", to: 2)
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Everything the toolkit installs, in the order the dispatcher lists them.
public enum Toolkit {
    static let commands: [any ToolCommand.Type] = [
        InitCommand.self, FoldersCommand.self, ConfigCommand.self, WatchCommand.self, CommitCommand.self,
        LogCommand.self, ShowCommand.self, RestoreCommand.self, StatusCommand.self, KeysCommand.self,
        PullCommand.self, ServeCommand.self, ConflictsCommand.self, JoinCommand.self, VersionsCommand.self, DiffCommand.self,
        NotifyCommand.self, PeerCommand.self, DaemonCommand.self, ConfirmCommand.self, PruneCommand.self, ForgetCommand.self,
        HistoryCommand.self,
    ]
    public static let version = "0.1.0"
}

let stateFiles = """
    SYNC_DIR (default $XDG_DATA_HOME/sync, else ~/.local/share/sync) is the node's state directory: \
    node/ holds the node key pair; folders/<id>/ holds each folder's config, index.db (SQLite), \
    history.git (a bare git repository) and stat-cache (a copy of the index's stat data for rescans).
    """

/// A progress line on standard error, drawn over itself at most every 0.2 s, and only when
/// standard error is a terminal (`ifTerminal`).
final class ProgressLine {
    private var lastShown = 0.0

    static func ifTerminal() -> ProgressLine? { isatty(2) != 0 ? ProgressLine() : nil }

    /// Shows `text`; the last one (`done`) is always shown and ends the line.
    func show(_ text: @autoclosure () -> String, done: Bool) {
        let now = Date().timeIntervalSince1970
        guard now - lastShown > 0.2 || done else { return }
        lastShown = now
        writeAll("\r" + text() + "\u{1b}[K" + (done ? "\n" : ""), to: 2)
    }
}

/// Writes one line to standard error.
func warn(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes all of `text` to a file descriptor, unbuffered; false when the reader is gone.
@discardableResult
func writeAll(_ text: String, to fd: Int32 = 1) -> Bool {
    (try? POSIX.writeAll(fd, Array(text.utf8), path: "output")) != nil
}

/// Standard output, line by line, unbuffered so pipes see each line at once.
func emit(_ line: String) { writeAll(line + "\n") }

/// Runs a command body: a toolkit error becomes `tool: message` on standard error and exit status 1.
func reporting(_ tool: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as SyncError {
        warn("\(tool): \(e)")
        throw ExitCode(1)
    } catch let e as CleanExit {
        throw e
    } catch {
        warn("\(tool): \(error)")
        throw ExitCode(1)
    }
}

/// Resolves the folder a command works on: the one named, else the one around the working
/// directory, else the only one there is.
func resolveFolder(_ reference: String?, state: StateDirectory) throws -> Folder {
    if let reference { return try state.folder(reference) }
    if let (f, _) = try state.folder(containing: FileManager.default.currentDirectoryPath) { return f }
    let all = try state.folders()
    if all.count == 1 { return all[0] }
    throw SyncError.noFolderGiven
}

/// JSON for `--json` output: sorted keys, ISO 8601 dates.
func json<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    enc.dateEncodingStrategy = .iso8601
    return String(decoding: try enc.encode(value), as: UTF8.self)
}

/// A time as people write it (`timeForms`); nil when it is none (for --at: then a revision).
func parseTime(_ s: String, now: Date = Date()) -> Date? {
    if s.hasPrefix("@"), let t = Double(s.dropFirst()) { return Date(timeIntervalSince1970: t) }
    switch s.lowercased() {
    case "now": return now
    case "yesterday": return now.addingTimeInterval(-86400)
    default: break
    }
    if s.hasSuffix(" ago") {
        // `3m ago`, `3 min ago`, `2 hours ago`, `1 week ago`
        var text = String(s.dropLast(4)).lowercased().replacingOccurrences(of: " ", with: "")
        let words: [(String, String)] = [("seconds", "s"), ("second", "s"), ("secs", "s"), ("sec", "s"),
                                         ("minutes", "m"), ("minute", "m"), ("mins", "m"), ("min", "m"),
                                         ("hours", "h"), ("hour", "h"), ("hrs", "h"), ("hr", "h"),
                                         ("days", "d"), ("day", "d"), ("weeks", "w"), ("week", "w")]
        if let (word, unit) = words.first(where: { text.hasSuffix($0.0) }) { text = String(text.dropLast(word.count)) + unit }
        if let d = Units.duration(text) { return now.addingTimeInterval(-d) }
    }
    let iso = ISO8601DateFormatter()
    if let d = iso.date(from: s) { return d }
    for format in ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone.current
        f.dateFormat = format
        if let d = f.date(from: s) { return d }
    }
    return nil
}

/// The time forms `parseTime` reads, for messages.
let timeForms = "ISO 8601, YYYY-MM-DD[ HH:MM[:SS]], @EPOCH, now, yesterday or 'N UNIT ago' (s, m, h, d, w, or seconds, minutes, hours, days, weeks)"
