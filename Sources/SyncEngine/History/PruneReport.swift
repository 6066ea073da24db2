import Foundation
import SyncCore
import SyncGit

/// What a prune did, or would do.
public struct PruneReport: Sendable, Codable {
    public var dryRun: Bool
    /// Versions (commits) before and after.
    public var versionsBefore = 0
    public var versionsAfter = 0
    /// The versions that go (listed for a dry run).
    public var dropped: [LogEntry] = []
    /// Content bytes reachable only from the versions that go (before compression).
    public var contentBytesFreed: Int64 = 0
    /// The object store on disk before and after (after: nil for a dry run).
    public var diskBefore: Int64 = 0
    public var diskAfter: Int64?
    /// Large files' old versions removed from the version store, and their bytes.
    public var storedVersionsRemoved = 0
    public var storedVersionsBytes: Int64 = 0
    /// Deletion records that left the index, and those old enough but not yet seen by every peer.
    public var tombstonesExpired = 0
    public var tombstonesWaiting = 0

    public init(dryRun: Bool) { self.dryRun = dryRun }

    /// The summary line people read.
    public var summary: String {
        let verb = dryRun ? "would drop" : "dropped"
        var s = "\(verb) \(versionsBefore - versionsAfter) of \(versionsBefore) versions (\(versionsAfter) stay)"
        if dryRun {
            s += ", \(Units.formatBytes(contentBytesFreed)) of content (before compression) would come back"
        } else if let after = diskAfter {
            s += "; history on disk \(Units.formatBytes(diskBefore)) -> \(Units.formatBytes(after))"
        }
        if storedVersionsRemoved > 0 {
            s += "; \(storedVersionsRemoved) large file versions (\(Units.formatBytes(storedVersionsBytes)))\(dryRun ? " would go" : " removed")"
        }
        s += "; \(tombstonesExpired) deletion records \(dryRun ? "would expire" : "expired")"
        if tombstonesWaiting > 0 { s += ", \(tombstonesWaiting) wait for peers" }
        return s
    }
}
