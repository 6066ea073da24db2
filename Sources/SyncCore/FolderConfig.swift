/// A folder's own settings, kept as `key = value` lines in `SYNC_DIR/folders/<id>/config`.
public struct FolderConfig: Sendable, Equatable {
    /// What a key holds and how a value is checked.
    public struct Key: Sendable {
        public let name: String
        public let summary: String
        public let defaultValue: String?
        public let multiValued: Bool
        let readOnly: Bool
        let check: @Sendable (String) -> String?
    }

    public static let keys: [Key] = [
        Key(name: "path", summary: "absolute path of the folder on this node", defaultValue: nil,
            multiValued: false, readOnly: true, check: { _ in nil }),
        Key(name: "name", summary: "a label for people", defaultValue: nil, multiValued: false, readOnly: false,
            check: { $0.contains("\n") ? "must be one line" : nil }),
        Key(name: "ignore", summary: "an ignore pattern in gitignore syntax (repeatable)", defaultValue: nil,
            multiValued: true, readOnly: false, check: { $0.contains("\n") ? "must be one line" : nil }),
        Key(name: "paused", summary: "true to stop the folder both ways: nothing recorded, nothing applied from peers, nothing new served", defaultValue: "false", multiValued: false,
            readOnly: false, check: { ["true", "false"].contains($0) ? nil : "must be true or false" }),
        Key(name: "debounce.quiet", summary: "quiet period before a commit of a burst of changes (a lone change is committed at once)", defaultValue: "200ms",
            multiValued: false, readOnly: false,
            check: { Units.duration($0) == nil ? "must be a duration such as 200ms, 2s, 1m" : nil }),
        Key(name: "debounce.max", summary: "longest delay before a commit while changes go on", defaultValue: "2s",
            multiValued: false, readOnly: false,
            check: { Units.duration($0) == nil ? "must be a duration such as 200ms, 2s, 1m" : nil }),
        Key(name: "history.max-blob", summary: "files larger than this are kept in history as pointers, and move between nodes by chunks",
            defaultValue: "16M", multiValued: false, readOnly: false,
            check: { Units.size($0) == nil ? "must be a size such as 512K, 16M, 1G" : nil }),
        Key(name: "history.keep-within", summary: "versions older than this are pruned (forever to keep them)",
            defaultValue: "forever", multiValued: false, readOnly: false,
            check: { $0 == "forever" || Units.duration($0) != nil ? nil : "must be a duration such as 90d, 12w or forever" }),
        Key(name: "history.keep-last", summary: "only this many newest versions stay when pruning (all to keep them)",
            defaultValue: "all", multiValued: false, readOnly: false,
            check: { $0 == "all" || (Int($0).map { $0 >= 1 } ?? false) ? nil : "must be a whole number, 1 or more, or all" }),
        Key(name: "history.max-size", summary: "newest versions stay while their content adds up to this (unlimited to keep them)",
            defaultValue: "unlimited", multiValued: false, readOnly: false,
            check: { $0 == "unlimited" || Units.size($0) != nil ? nil : "must be a size such as 512M, 20G or unlimited" }),
        Key(name: "history.thin", summary: "staggered keeps one version per 30 s in the last hour, per hour in the last day, per day in the last 30 days, per week before",
            defaultValue: "off", multiValued: false, readOnly: false,
            check: { ["off", "staggered"].contains($0) ? nil : "must be off or staggered" }),
        Key(name: "history.peers.keep-within", summary: "for other nodes' versions (their authored histories kept here): versions older than this are pruned (same: as history.keep-within)",
            defaultValue: "same", multiValued: false, readOnly: false,
            check: { ["same", "forever"].contains($0) || Units.duration($0) != nil ? nil : "must be a duration such as 90d, 12w, forever or same" }),
        Key(name: "history.peers.keep-last", summary: "for other nodes' versions: only this many newest of each node stay (same: as history.keep-last)",
            defaultValue: "same", multiValued: false, readOnly: false,
            check: { ["same", "all"].contains($0) || (Int($0).map { $0 >= 1 } ?? false) ? nil : "must be a whole number, 1 or more, all or same" }),
        Key(name: "history.peers.max-size", summary: "for other nodes' versions: each node's newest stay while their content adds up to this (same: as history.max-size)",
            defaultValue: "same", multiValued: false, readOnly: false,
            check: { ["same", "unlimited"].contains($0) || Units.size($0) != nil ? nil : "must be a size such as 512M, 20G, unlimited or same" }),
        Key(name: "history.peers.thin", summary: "for other nodes' versions: staggered or off (same: as history.thin)",
            defaultValue: "same", multiValued: false, readOnly: false,
            check: { ["same", "off", "staggered"].contains($0) ? nil : "must be off, staggered or same" }),
        Key(name: "history.prune-every", summary: "how often sync up prunes this folder's history (off to never)",
            defaultValue: "1d", multiValued: false, readOnly: false,
            check: { $0 == "off" || (Units.duration($0).map { $0 >= 1 } ?? false) ? nil : "must be a duration of 1s or more, such as 6h or 1d, or off" }),
        Key(name: "tombstones.keep-within", summary: "deletion records older than this leave the index once every peer has seen them",
            defaultValue: "90d", multiValued: false, readOnly: false,
            check: { Units.duration($0) == nil ? "must be a duration such as 30d or 52w" : nil }),
        Key(name: "guard.deletions", summary: "a change deleting more than this share of the folder's files is held until sync confirm (off to never hold)",
            defaultValue: "50%", multiValued: false, readOnly: false,
            check: { FolderConfig.share($0) == nil && $0 != "off" ? "must be a share such as 50% or off" : nil }),
        Key(name: "guard.min-deletions", summary: "the guard holds a change only when it deletes at least this many files",
            defaultValue: "100", multiValued: false, readOnly: false,
            check: { Int($0).map { $0 >= 1 } == true ? nil : "must be a whole number of files, 1 or more" }),
        Key(name: "peer", summary: "a remote this folder syncs with, followed by sync up (repeatable; see sync peer)",
            defaultValue: nil, multiValued: true, readOnly: false,
            check: { (try? RemoteSpec($0)) == nil ? "must be a remote such as ssh://user@host:22/FOLDER-ID" : nil }),
    ]

    public static func key(_ name: String) throws -> Key {
        guard let k = keys.first(where: { $0.name == name }) else { throw SyncError.invalidConfigKey(name) }
        return k
    }

    public private(set) var lines: [(key: String, value: String)]

    public init(path: String) { lines = [("path", path)] }

    public static func == (a: FolderConfig, b: FolderConfig) -> Bool {
        a.lines.map { "\($0.key)=\($0.value)" } == b.lines.map { "\($0.key)=\($0.value)" }
    }

    /// Parses the file's text; unknown keys are kept so a newer version's settings survive.
    public init(parsing text: String, file: String) throws {
        lines = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw SyncError.corrupt(path: file, message: "line without '=': \(line)")
            }
            lines.append((String(line[..<eq]).trimmingSpaces(), String(line[line.index(after: eq)...]).trimmingSpaces()))
        }
        guard value("path") != nil else { throw SyncError.corrupt(path: file, message: "no path") }
    }

    public var text: String { lines.map { "\($0.key) = \($0.value)\n" }.joined() }

    /// The value in force: the last one set, else the default.
    public func value(_ key: String) -> String? {
        lines.last(where: { $0.key == key })?.value ?? FolderConfig.keys.first(where: { $0.name == key })?.defaultValue
    }

    /// Every value of a multi-valued key.
    public func values(_ key: String) -> [String] { lines.filter { $0.key == key }.map(\.value) }

    /// Replaces all values of `key` by `value`, after checking both.
    public mutating func set(_ key: String, _ value: String) throws {
        let k = try Self.key(key)
        if k.readOnly { throw SyncError.readOnlyConfigKey(key) }
        if let why = k.check(value) { throw SyncError.invalidConfigValue(key: key, value: value, reason: why) }
        lines.removeAll { $0.key == key }
        lines.append((key, value))
    }

    /// Adds one more value to a multi-valued key.
    public mutating func add(_ key: String, _ value: String) throws {
        let k = try Self.key(key)
        if !k.multiValued { try set(key, value); return }
        if let why = k.check(value) { throw SyncError.invalidConfigValue(key: key, value: value, reason: why) }
        lines.append((key, value))
    }

    /// Removes every value of `key` (or only `value`, when given).
    public mutating func unset(_ key: String, value: String? = nil) throws {
        let k = try Self.key(key)
        if k.readOnly { throw SyncError.readOnlyConfigKey(key) }
        lines.removeAll { $0.key == key && (value == nil || $0.value == value) }
    }

    public var path: String { value("path")! }
    public var paused: Bool { value("paused") == "true" }
    public var quietPeriod: Double { Units.duration(value("debounce.quiet") ?? "") ?? 0.2 }
    public var maxDelay: Double { Units.duration(value("debounce.max") ?? "") ?? 2 }
    public var maxBlob: Int64 { Units.size(value("history.max-blob") ?? "") ?? 16 << 20 }
    public var ignorePatterns: [String] { values("ignore") }
    public var keepWithin: Double? { value("history.keep-within").flatMap(Units.duration) }
    public var keepLast: Int? { value("history.keep-last").flatMap { Int($0) } }
    public var maxHistorySize: Int64? { value("history.max-size").flatMap(Units.size) }
    public var thin: Bool { value("history.thin") == "staggered" }
    /// Seconds between scheduled prunes; nil: never.
    public var pruneEvery: Double? { value("history.prune-every").flatMap(Units.duration) }
    public var tombstonesWithin: Double { value("tombstones.keep-within").flatMap(Units.duration) ?? 90 * 86400 }
    /// The share of the folder's files a change may delete before it is held; nil: never held.
    public var guardShare: Double? { value("guard.deletions").flatMap(Self.share) }
    public var guardMinimum: Int { Int(value("guard.min-deletions") ?? "") ?? 100 }

    /// `50%` as 0.5 (0% to 100%).
    static func share(_ text: String) -> Double? {
        guard text.hasSuffix("%"), let v = Double(text.dropLast()), v >= 0, v <= 100 else { return nil }
        return v / 100
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
