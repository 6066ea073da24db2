import Foundation

/// Every failure the toolkit reports to a user: what went wrong and where.
public enum SyncError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidFolderID(String)
    case invalidPath(String, reason: String)
    case notADirectory(String)
    case noSuchPath(String)
    case folderOverlaps(path: String, folder: String, existing: String)
    case insideStateDirectory(path: String, stateDirectory: String)
    case unknownFolder(String)
    case ambiguousFolder(String)
    case noFolderGiven
    case invalidConfigKey(String)
    case invalidConfigValue(key: String, value: String, reason: String)
    case readOnlyConfigKey(String)
    case io(path: String, operation: String, errno: Int32)
    case database(path: String, message: String)
    case history(path: String, message: String)
    case identity(path: String, message: String)
    case corrupt(path: String, message: String)
    case locked(path: String)
    case notFound(String)
    /// The folder's `paused` setting is on: nothing is recorded or applied, nothing new is served.
    case folderPaused(String)
    /// Text that does not read as what it must be (a node id, a key line, an invite, a remote, a
    /// duration...); the message names the text and the forms it may take.
    case malformed(String)
    /// A peer that cannot be reached, refused, or answered what it should not; the message names it.
    case peer(String)
    /// Something this node will not do in the state it is in (a folder already registered, another
    /// daemon running, a path changed during a restore...); the message says what and why.
    case refused(String)

    public var description: String {
        switch self {
        case .invalidFolderID(let s): return "\(s): not a folder id"
        case .invalidPath(let p, let r): return "\(p): invalid path: \(r)"
        case .notADirectory(let p): return "\(p): not a directory"
        case .noSuchPath(let p): return "\(p): no such file or directory"
        case .folderOverlaps(let p, let f, let e):
            return "\(p): overlaps folder \(f) at \(e)"
        case .insideStateDirectory(let p, let s):
            return "\(p): inside the state directory \(s)"
        case .unknownFolder(let f): return "folder \(f): not found"
        case .ambiguousFolder(let f): return "\(f): names more than one folder; use the folder id"
        case .noFolderGiven: return "no folder given and the current directory is in no folder"
        case .invalidConfigKey(let k): return "\(k): unknown configuration key"
        case .invalidConfigValue(let k, let v, let r): return "\(k): invalid value '\(v)': \(r)"
        case .readOnlyConfigKey(let k): return "\(k): read-only configuration key"
        case .io(let p, let op, let e): return "\(p): \(op): \(String(cString: strerror(e)))"
        case .database(let p, let m): return "\(p): index: \(m)"
        case .history(let p, let m): return "\(p): history: \(m)"
        case .identity(let p, let m): return "\(p): node identity: \(m)"
        case .corrupt(let p, let m): return "\(p): corrupt: \(m)"
        case .locked(let p): return "\(p): locked by another process"
        case .notFound(let s): return "\(s): not found"
        case .folderPaused(let f): return "folder \(f): paused (sync config \(f) paused false resumes it)"
        case .malformed(let s), .peer(let s), .refused(let s): return s
        }
    }
}
