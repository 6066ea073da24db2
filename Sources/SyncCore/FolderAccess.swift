import Foundation

/// Which peers may see a folder: `SYNC_DIR/folders/<id>/authorized_keys`, one key line per peer.
public enum FolderAccess {
    static func path(_ directory: String) -> String { directory + "/authorized_keys" }

    /// The keys allowed for `folder`.
    public static func keys(of folder: Folder) throws -> [PeerKey] {
        guard let data = FileManager.default.contents(atPath: path(folder.directory)) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { try? PeerKey(line: String($0)) }
    }

    /// Adds `key`; false when it was already there.
    @discardableResult
    public static func allow(_ key: PeerKey, for folder: Folder) throws -> Bool {
        var keys = try keys(of: folder)
        guard !keys.contains(where: { $0.id == key.id }) else { return false }
        keys.append(key)
        try write(keys, folder)
        return true
    }

    /// Removes the key of `node`; false when it was not there.
    @discardableResult
    public static func deny(_ node: NodeID, for folder: Folder) throws -> Bool {
        let keys = try keys(of: folder)
        guard keys.contains(where: { $0.id == node }) else { return false }
        try write(keys.filter { $0.id != node }, folder)
        return true
    }

    private static func write(_ keys: [PeerKey], _ folder: Folder) throws {
        try FileSystem.writeAtomically(Array(keys.map { $0.line + "\n" }.joined().utf8), to: path(folder.directory), mode: 0o600)
    }

    /// Which folders one peer may see: a map from folder id to folder, built from every folder's key
    /// file at once and built again when any key file, config or the set of folders changes (checked
    /// on every request, by stat). A request costs the same whichever folder it names and however
    /// many keys a folder lists, so a denied folder and a missing one cannot be told apart by time:
    /// the work never depends on the folder asked for, only the final lookup does.
    public final class Cache {
        private var stamp: [Int] = []
        private var visible: [String: Folder] = [:]
        /// The folder directory's entries, listed again only when its own stat data changes (a
        /// folder added or removed changes its modification time): a listing per request was
        /// most of the cost of serving a small file. A listing taken less than two seconds after
        /// the directory changed is not kept (as git's racy index entries: the clock the kernel
        /// stamps directories with is coarse, and a second change in the same tick would not show).
        private var names: (stamp: [Int], list: [String]) = ([], [])

        public init() {}

        /// The folder `reference` (a folder id) names if `peer` may see it now, else nil: the same
        /// nil for a folder that does not exist.
        public func authorizedFolder(_ reference: String, peer: NodeID, state: StateDirectory) -> Folder? {
            visibleFolders(peer: peer, state: state)[reference]
        }

        /// Every folder `peer` may see now, by id: the same work as one `authorizedFolder`.
        public func visibleFolders(peer: NodeID, state: StateDirectory) -> [String: Folder] {
            let top = Self.stamp(state.foldersPath)
            let names: [String]
            if top == self.names.stamp, !top.isEmpty {
                names = self.names.list
            } else {
                names = Self.folderNames(state)
                // Kept only when the directory's last change is two seconds old (top[3] is its mtime in seconds).
                let settled = top.count > 3 && top[0] != -1 && time(nil) - top[3] >= 2
                self.names = (settled ? top : [], names)
            }
            let now = top + names.flatMap { name in
                let directory = state.foldersPath + "/" + name
                return Self.stamp(FolderAccess.path(directory)) + Self.stamp(directory + "/config")
            }
            if now != stamp {
                visible = [:]
                for name in names {
                    guard let id = try? FolderID(name), let folder = try? Folder(id: id, stateDirectory: state),
                          (try? FolderAccess.keys(of: folder))?.contains(where: { $0.id == peer }) == true else { continue }
                    visible[id.rawValue] = folder
                }
                stamp = now
            }
            return visible
        }

        private static func folderNames(_ state: StateDirectory) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: state.foldersPath)) ?? []).sorted()
        }

        private static func stamp(_ path: String) -> [Int] {
            var st = stat()
            guard stat(path, &st) == 0 else { return [-1, Int(errno)] }
            return [Int(st.st_dev), Int(st.st_ino), Int(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                    st.st_ctim.tv_sec, st.st_ctim.tv_nsec]
        }
    }

    /// Every peer key allowed for any folder of the node, one per node id.
    public static func allKeys(_ state: StateDirectory) throws -> [PeerKey] {
        var seen = Set<NodeID>(), out: [PeerKey] = []
        for f in try state.folders() { for k in try keys(of: f) where seen.insert(k.id).inserted { out.append(k) } }
        return out
    }
}
