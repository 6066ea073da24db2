import SyncCore

/// What a pull did.
public struct PullOutcome: Sendable {
    /// `A path`, `M path`, `D path` for what changed here; `C path` for a conflict at path. With
    /// `Puller.onChanges` set, only those not handed to it yet.
    public var changes: [Change] = []
    /// Changes already handed to `Puller.onChanges`.
    var handedChanges = 0
    /// Every change of the pull, handed on or not.
    public var changeCount: Int { handedChanges + changes.count }
    /// Conflict copies made, as (original, copy).
    public var conflicts: [(original: String, copy: String)] = []
    /// Rows refused or left for a later pull, and losses worth telling, by path.
    public var problems: [PullProblem] = []
    /// Whether a row was left for the next pull (which should then come soon).
    public var held: Bool { problems.contains { $0.kind == .held } }
    public var sequence: Int64 = 0
    /// The peer's own sequence for the folder as it answered (0: it has recorded nothing yet).
    public var peerSequence: Int64 = 0
    public var commit: String?
    public var filesFetched = 0
    /// Of those, the files made of local chunks and fetched ones (`Puller.chunked`).
    public var filesFromChunks = 0
    public var contentBytes: Int64 = 0
    /// The authored histories fetched after the rows (see `HistoryFetch`).
    public var history = HistoryFetchOutcome()
    /// Index rows recorded here, and how many of them are not the peer's rows as it sent them
    /// (conflicts, merges, local changes found on the way): a pull with none of those only
    /// repeats the peer's own rows, which the peer need not be told of.
    var rowsRecorded = 0
    var foreignRows = 0
}

/// A stop was asked for in the middle of a pull: what was applied is recorded, a file cut halfway
/// stays as a temporary that the next pull resumes.
public struct PullStopped: Error, CustomStringConvertible {
    public var description: String { "stopped in the middle of a pull; the next pull resumes it" }
}

/// Progress of a pull, for a display.
public struct PullProgress: Sendable {
    public var entriesDone = 0
    public var entriesTotal = 0
    public var bytesReceived: Int64 = 0
    /// Content the rows seen so far may bring, at most (a delta or content found here brings less).
    public var bytesTotal: Int64 = 0
    var currentPath = ""
}

/// What a pull could not do, or did with a loss, for one path.
public struct PullProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The peer's row is unsafe or invalid here: never applied, never asked for again.
        case refused
        /// The row waits for the next pull (the stored sequence stays below it).
        case held
        /// Done, but something was lost on the way (an old version not kept, a file not put back).
        case warning
    }
    public let kind: Kind
    public let path: String
    public let reason: String

    public init(_ kind: Kind, _ path: String, _ reason: String) { self.kind = kind; self.path = path; self.reason = reason }

    public var description: String {
        let q = PathQuoting.quote(path)
        switch kind {
        case .refused: return "refused \(q) from peer: \(reason)"
        case .held: return "\(q): \(reason); left for the next pull"
        case .warning: return "\(q): \(reason)"
        }
    }
}
