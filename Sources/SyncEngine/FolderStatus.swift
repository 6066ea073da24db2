import Foundation
import SyncCore

/// What `sync status` reports of one folder.
public struct FolderStatus: Sendable, Codable {
    public let id: String
    public let name: String
    public let path: String
    public let state: String
    public let files: Int
    public let bytes: Int64
    public let sequence: Int64
    public let lastCommit: String?
    public let lastCommitTime: Date?
    /// Paths whose stat data differ from the index: changes not yet committed.
    public let pending: Int

    /// Gathers the status; the pending count comes from a stat walk that reads no contents.
    public init(_ context: FolderContext) throws {
        let f = context.folder
        id = f.id.rawValue
        name = f.name
        path = f.root
        state = f.state
        let totals = try context.index.totals()
        files = totals.files
        bytes = totals.bytes
        sequence = try context.index.sequence()
        if let head = try? context.history.head(), let c = try? context.history.commit(head) {
            lastCommit = head.hex
            lastCommitTime = c.time
        } else {
            lastCommit = nil
            lastCommitTime = nil
        }
        pending = state == "missing" ? 0 : try Committer(context).pending().count
    }

    /// The human form: one `key: value` line each.
    public var text: String {
        var lines = ["folder \(id) (\(name))", "  path:        \(path)", "  state:       \(state)",
                     "  files:       \(files)", "  bytes:       \(bytes) (\(Units.formatBytes(bytes)))",
                     "  sequence:    \(sequence)"]
        if let lastCommit, let lastCommitTime {
            lines.append("  last commit: \(lastCommit.prefix(12)) at \(ISO8601DateFormatter().string(from: lastCommitTime))")
        } else {
            lines.append("  last commit: none")
        }
        lines.append("  pending:     \(pending)")
        return lines.joined(separator: "\n")
    }
}
