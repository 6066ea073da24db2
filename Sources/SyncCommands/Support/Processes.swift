import ArgumentParser
import Foundation
import Logging
import SyncCore
import SyncEngine
import SyncGit
import SyncProtocol

/// Closes every descriptor above standard error that this process was started with: a daemon must
/// not hold (nor hand its children) its starter's pipes, whose reader would wait for their end.
func closeInheritedDescriptors() {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
    // The listing's own descriptor is closed by now (that close fails harmlessly).
    for fd in names.compactMap({ Int32($0) }) where fd > 2 { close(fd) }
}
