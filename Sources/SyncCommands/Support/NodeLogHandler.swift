import Foundation
import Logging

/// Log lines on standard error (swift-log's stream format) from the logger's level on, and, when a
/// file is given, appended to it from `fileLevel` on: a process that sshd started (sync-serve) has
/// no standard error of its own on this node, so its lines stay there. The file is kept under
/// 1 MiB: when it grows past that, it becomes FILE.1 and a new one starts.
struct NodeLogHandler: LogHandler {
    private var stream: StreamLogHandler
    private let label: String
    private let file: String?
    private let fileLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    static let maxFileBytes = 1 << 20

    init(label: String, file: String?, fileLevel: Logger.Level) {
        stream = StreamLogHandler.standardError(label: label)
        self.label = label
        self.file = file
        self.fileLevel = fileLevel
    }

    var logLevel: Logger.Level {
        get { file == nil ? stream.logLevel : min(stream.logLevel, fileLevel) }
        set { stream.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.level >= stream.logLevel {
            var s = stream
            s.metadata = metadata
            s.log(event: event)
        }
        guard let file, event.level >= fileLevel else { return }
        let fields = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let tags = fields.isEmpty ? "" : " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(ISO8601DateFormatter().string(from: Date())) \(event.level) \(label):\(tags) \(event.message)\n"
        Self.append(line, to: file)
    }

    private static func append(_ line: String, to file: String) {
        var st = stat()
        if stat(file, &st) == 0, st.st_size > maxFileBytes { rename(file, file + ".1") }
        var fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0, errno == ENOENT {
            mkdir((file as NSString).deletingLastPathComponent, 0o700)
            fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { return }
        _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }
}
