import Foundation
import SyncCore

/// A node's link budgets, from the environment: `SYNC_CALL_TIMEOUT` (default 2m: the longest
/// silence in the middle of a message or before an answer), `SYNC_IDLE_TIMEOUT` (10m: the longest
/// silence of a kept link, whose peer sends keepalives every `SYNC_KEEPALIVE`, 30s), and
/// `SYNC_MAX_LINKS` (16: links one peer may hold open to this node at once).
public struct LinkSettings: Sendable {
    public var callTimeout: Double = 120
    public var idleTimeout: Double = 600
    public var keepalive: Double = 30
    public var maxLinks = 16

    public init() {}

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> LinkSettings {
        var s = LinkSettings()
        func duration(_ key: String) throws -> Double? {
            guard let text = env[key], !text.isEmpty else { return nil }
            guard let d = Units.duration(text), d > 0 else { throw SyncError.malformed("\(key)=\(text): not a duration such as 30s, 2m") }
            return d
        }
        s.callTimeout = try duration("SYNC_CALL_TIMEOUT") ?? s.callTimeout
        s.idleTimeout = try duration("SYNC_IDLE_TIMEOUT") ?? s.idleTimeout
        s.keepalive = try duration("SYNC_KEEPALIVE") ?? s.keepalive
        if let text = env["SYNC_MAX_LINKS"], !text.isEmpty {
            guard let n = Int(text), (1...10_000).contains(n) else { throw SyncError.malformed("SYNC_MAX_LINKS=\(text): not a number from 1 to 10000") }
            s.maxLinks = n
        }
        return s
    }
}
