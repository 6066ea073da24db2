import Foundation
import SyncCore
import SyncGit

/// How long a folder's history keeps versions, from its settings (`history.keep-within`,
/// `history.keep-last`, `history.max-size`, `history.thin`, `tombstones.keep-within`).
/// A version is dropped as soon as any bound set expires it; the newest is never dropped.
public struct Retention: Sendable, Equatable {
    /// Versions older than this many seconds go.
    public var keepWithin: TimeInterval?
    /// Only this many newest versions stay.
    public var keepLast: Int?
    /// Newest first, versions stay while their content (each distinct content counted once) adds up to at most this.
    public var maxSize: Int64?
    /// Staggered thinning: dense recent, sparse old (`RetentionRule.slot`).
    public var thin = false
    /// Deletion records older than this, that every peer has seen, leave the index.
    public var tombstonesWithin: TimeInterval = 90 * 86400

    public init(keepWithin: TimeInterval? = nil, keepLast: Int? = nil, maxSize: Int64? = nil, thin: Bool = false,
                tombstonesWithin: TimeInterval = 90 * 86400) {
        self.keepWithin = keepWithin
        self.keepLast = keepLast
        self.maxSize = maxSize
        self.thin = thin
        self.tombstonesWithin = tombstonesWithin
    }

    public init(_ config: FolderConfig) {
        keepWithin = config.keepWithin
        keepLast = config.keepLast
        maxSize = config.maxHistorySize
        thin = config.thin
        tombstonesWithin = config.tombstonesWithin
    }
}

extension Retention {
    /// The retention for other nodes' authored histories kept here: this one, with each bound a
    /// `history.peers.*` setting gives (other than `same`) in its place.
    public func forPeers(_ config: FolderConfig) -> Retention {
        var r = self
        func set(_ key: String) -> String? { config.value("history.peers." + key).flatMap { $0 == "same" ? nil : $0 } }
        if let v = set("keep-within") { r.keepWithin = Units.duration(v) }
        if let v = set("keep-last") { r.keepLast = Int(v) }
        if let v = set("max-size") { r.maxSize = Units.size(v) }
        if let v = set("thin") { r.thin = v == "staggered" }
        return r
    }
}

/// Which versions a retention keeps: a pure function of their times (and content sizes).
enum RetentionRule {
    /// Staggered thinning's slot of a version made at `time`, seen at `now`: younger than an hour,
    /// one slot per 30 s; younger than a day, per hour; than 30 days, per day; older, per week.
    /// A slot keeps its newest version.
    public static func slot(time: Date, now: Date) -> (step: Int64, index: Int64) {
        let age = now.timeIntervalSince(time)
        let step: Int64 = age < 3600 ? 30 : age < 86400 ? 3600 : age < 30 * 86400 ? 86400 : 7 * 86400
        let t = Int64(time.timeIntervalSince1970.rounded(.down))
        return (step, t >= 0 ? t / step : (t - step + 1) / step)
    }

    /// For versions newest first (`times`; `sizes`: the content each adds that no newer version
    /// has, needed for `maxSize`), whether each stays.
    public static func keep(times: [Date], sizes: [Int64]?, retention r: Retention, now: Date) -> [Bool] {
        var out = [Bool](repeating: true, count: times.count)
        var total: Int64 = 0
        var slots = Set<[Int64]>()
        for (i, t) in times.enumerated() where i > 0 {
            if let last = r.keepLast, i >= last { out[i] = false }
            if let within = r.keepWithin, now.timeIntervalSince(t) > within { out[i] = false }
            if let max = r.maxSize, let sizes {
                total += sizes[i]
                if total + sizes[0] > max { out[i] = false }
            }
            if r.thin {
                if i == 1 { let s = slot(time: times[0], now: now); slots.insert([s.step, s.index]) }
                let s = slot(time: t, now: now)
                if !slots.insert([s.step, s.index]).inserted { out[i] = false }
            }
        }
        return out
    }
}
