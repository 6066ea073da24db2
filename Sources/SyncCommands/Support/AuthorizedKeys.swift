import ArgumentParser
import Foundation
import SyncCore
import SyncEngine
import SyncProtocol
import SyncSSH

/// Rewrites this node's managed block in the authorized_keys file from every folder's allowed keys
/// and the invites still open.
func rewriteAuthorizedKeys(_ state: StateDirectory, file: AuthorizedKeysFile = .fromEnvironment()) throws {
    try file.update(keys: try FolderAccess.allKeys(state), invites: Invites(state).active(),
                    server: siblingExecutable("sync-serve"), state: state)
}
