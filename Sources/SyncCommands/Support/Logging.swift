import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncProtocol

/// Log lines on standard error (`TIME LEVEL LABEL : MESSAGE`, swift-log's stream format), at the
/// level SYNC_LOG_LEVEL names (trace, debug, info, notice, warning, error; default `defaultLevel`);
/// with `file`, also appended there from info on (see `NodeLogHandler`).
func makeLogger(_ label: String, defaultLevel: Logger.Level = .info, file: String? = nil) -> Logger {
    let level = ProcessInfo.processInfo.environment["SYNC_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
    LoggingSystem.bootstrap { NodeLogHandler(label: $0, file: file, fileLevel: min(level, .info)) }
    var log = Logger(label: label)
    log.logLevel = level
    return log
}
