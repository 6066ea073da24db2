import Foundation
import SyncCore

/// What sync-notify does with each line of sync-commit's output: posts the new sequence on the
/// notice board (every open link of this node tells its peer) and, for each peer of the folder
/// that no link of this node follows, starts a pull from it (`dial`, which returns the pid of the
/// process it started; nil: none).
public final class Notifier {
    let state: StateDirectory
    let folder: Folder
    let dial: ((String) -> pid_t?)?
    private var running: [String: pid_t] = [:]

    /// `dial` nil: peers no link follows are left alone (sync-notify --no-dial).
    public init(state: StateDirectory, folder: Folder, dial: ((String) -> pid_t?)?) {
        self.state = state; self.folder = folder; self.dial = dial
    }

    /// Takes one line; false when it is not `FOLDER-ID SEQUENCE COMMIT` of this folder (ignored).
    public func take(_ line: String) throws -> Bool {
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0] == folder.id.rawValue, let sequence = Int64(parts[1]) else { return false }
        defer { dialUnfollowed() }
        try NoticeBoard(state).post(folder.id, sequence: sequence)
        return true
    }

    /// Starts a pull from each peer of the folder that no live process of this node dials, unless
    /// one this notifier started still runs.
    func dialUnfollowed() {
        guard let dial else { return }
        for (remote, pid) in running where waitpid(pid, nil, WNOHANG) != 0 { running[remote] = nil }
        let current = (try? state.folder(folder.id.rawValue)) ?? folder
        let links = LinkBoard(state).links()
        for remote in current.config.values("peer") where running[remote] == nil {
            guard !links.contains(where: { $0.role == .dial && $0.folder == folder.id.rawValue && $0.remote == remote }) else { continue }
            if let pid = dial(remote) { running[remote] = pid }
        }
    }
}
