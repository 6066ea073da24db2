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
        var text = s
        guard let counters = text.withUTF8({ Self.counters(of: $0, fromPeer: fromPeer) }) else {
            throw SyncError.malformed("\(s.prefix(80)): not a version vector")
        }
        self.init(counters)
    }

    /// The counters of the storage form in `bytes` (read byte by byte: every row of a pull has
    /// one), or nil when it is not one: `node:counter` pairs, a node id and 1 or more decimal
    /// digits that fit 64 bits, separated by single commas; nothing at all for no counters.
    private static func counters(of bytes: UnsafeBufferPointer<UInt8>, fromPeer: Bool) -> [String: UInt64]? {
        var c: [String: UInt64] = [:]
        let n = bytes.count
        var i = 0
        while i < n {
            if i > 0 {
                guard bytes[i] == UInt8(ascii: ","), i + 1 < n else { return nil }
                i += 1
            }
            let start = i
            while i < n && Base32.isDigit(bytes[i]) { i += 1 }
            guard i - start == NodeID.length, i < n, bytes[i] == UInt8(ascii: ":") else { return nil }
            let node = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            i += 1
            let digits = i
            var value: UInt64 = 0
            while i < n, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = times.addingReportingOverflow(UInt64(bytes[i] - UInt8(ascii: "0")))
                guard !o1 && !o2 else { return nil }
                value = next
                i += 1
            }
            guard i > digits, !fromPeer || (value <= peerLimit && c.count < peerMaxNodes) else { return nil }
            c[node] = value
        }
        return c
    }
}
