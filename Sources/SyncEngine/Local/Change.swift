import Foundation
import SyncCore
import SyncGit

/// One recorded change of one path, as commit messages and `sync log` show it.
public struct Change: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable { case added = "A", modified = "M", deleted = "D" }
    public let status: Status
    public let path: String

    public var line: String { "\(status.rawValue) \(PathQuoting.quote(path))" }

    public init(status: Status, path: String) { self.status = status; self.path = path }

    init?(line: Substring) {
        guard line.count >= 3, let s = Status(rawValue: String(line.prefix(1))), line.dropFirst().first == " ",
              let p = PathQuoting.unquote(line.dropFirst(2)) else { return nil }
        status = s
        path = p
    }
}
