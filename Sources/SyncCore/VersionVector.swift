/// A version vector: for each node, how many changes of a file that node made.
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    public private(set) var counters: [String: UInt64]

    public init(_ counters: [String: UInt64] = [:]) { self.counters = counters.filter { $0.value > 0 } }

    public enum Ordering: Sendable, Equatable { case equal, newer, older, concurrent }

    /// How `self` stands against `other`.
    public func compare(_ other: VersionVector) -> Ordering {
        var greater = false, smaller = false
        for key in Set(counters.keys).union(other.counters.keys) {
            let a = counters[key] ?? 0, b = other.counters[key] ?? 0
            if a > b { greater = true } else if a < b { smaller = true }
        }
        switch (greater, smaller) {
        case (false, false): return .equal
        case (true, false): return .newer
        case (false, true): return .older
        case (true, true): return .concurrent
        }
    }

    /// The largest counter taken from a peer: far below `UInt64.max`, so that this node's own
    /// changes can always count on from any counter a peer sent (a row counting past it is refused
    /// by the peers it is sent to, and reported there).
    static let peerLimit: UInt64 = 1 << 53
    /// The most counters a peer's vector may hold.
    static let peerMaxNodes = 256

    /// The nodes that changed the file since `older` (their counters went up): for a version
    /// taken from a peer, where its changes were made. Sorted.
    public func changers(since older: VersionVector?) -> [String] {
        counters.filter { $0.value > (older?.counters[$0.key] ?? 0) }.map(\.key).sorted()
    }

    /// The vector after one more change by `node`.
    public func bumped(by node: NodeID) -> VersionVector {
        var c = counters
        let (next, overflow) = c[node.rawValue, default: 0].addingReportingOverflow(1)
        c[node.rawValue] = overflow ? UInt64.max : next // unreachable from 2^53 in a lifetime; never a trap
        return VersionVector(c)
    }

    /// The least vector that dominates or equals both.
    public func merged(with other: VersionVector) -> VersionVector {
        VersionVector(counters.merging(other.counters, uniquingKeysWith: max))
    }

    /// `node:counter` pairs, sorted, comma separated; the index's storage form.
    public var description: String {
        counters.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
    }

    /// Parses the storage form; a peer's vector (`fromPeer`) may hold at most `peerMaxNodes`
    /// counters, each at most `peerLimit`.
    public init(parsing s: String, fromPeer: Bool = false) throws {
        var c: [String: UInt64] = [:]
        for pair in s.split(separator: ",") {
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let n = UInt64(parts[1]), (try? NodeID(String(parts[0]))) != nil,
                  !fromPeer || (n <= Self.peerLimit && c.count < Self.peerMaxNodes) else {
                throw SyncError.malformed("\(s.prefix(80)): not a version vector")
            }
            c[String(parts[0])] = n
        }
        self.init(c)
    }
}
