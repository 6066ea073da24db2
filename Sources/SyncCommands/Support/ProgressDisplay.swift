import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol
import SyncSSH

/// A one-line progress display on a terminal's standard error; silent otherwise.
final class ProgressDisplay {
    let active = isatty(2) == 1
    var last = Date.distantPast
    var shown = false
    func show(_ text: @autoclosure () -> String) {
        guard active, Date().timeIntervalSince(last) > 0.2 else { return }
        last = Date()
        shown = true
        writeAll("\r\u{1B}[K" + text(), to: 2)
    }
    func clear() { if shown { writeAll("\r\u{1B}[K", to: 2); shown = false } }
}
