import Foundation
import SyncCore

/// A bound on the links one peer holds open to this node at once: each serving process takes one
/// of `limit` slot locks (`SYNC_DIR/run/slots/<peer>-<n>.lock`), released when it ends, however it ends.
public enum LinkSlots {
    /// A free slot for `peer`, held while the lock lives; nil when all `limit` are taken.
    public static func take(_ state: StateDirectory, peer: NodeID, limit: Int) throws -> FileLock? {
        let directory = state.root + "/run/slots"
        try FileSystem.makeDirectories(directory, mode: 0o700)
        for i in 0..<max(limit, 1) {
            if let lock = try? FileLock(path: "\(directory)/\(peer)-\(i).lock", wait: false) { return lock }
        }
        return nil
    }
}
