/// Ignore patterns in gitignore syntax: `#` comments, `!` negation, trailing `/` for directories only,
/// a `/` at the start or in the middle anchors to the folder root, `*`, `?`, `[...]` and `**`.
/// The last matching pattern decides; a path below an ignored directory is ignored.
public struct IgnoreMatcher: Sendable {
    struct Pattern: Sendable {
        var glob: [UInt8]
        var negated: Bool
        var directoryOnly: Bool
        var anchored: Bool
    }
    private var patterns: [Pattern] = []

    public init(lines: [String] = []) {
        for line in lines { add(line) }
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Adds one pattern line; blank lines and comments are skipped.
    public mutating func add(_ line: String) {
        var s = Substring(line)
        while s.last == " " && !s.hasSuffix("\\ ") { s.removeLast() }
        if s.isEmpty || s.hasPrefix("#") { return }
        var negated = false
        if s.hasPrefix("!") { negated = true; s.removeFirst() } else if s.hasPrefix("\\!") || s.hasPrefix("\\#") { s.removeFirst() }
        var directoryOnly = false
        if s.hasSuffix("/") { directoryOnly = true; s.removeLast() }
        if s.isEmpty { return }
        var anchored = s.dropLast().contains("/")
        if s.hasPrefix("/") { anchored = true; s.removeFirst() }
        if s.hasPrefix("**/") { anchored = true }
        patterns.append(Pattern(glob: Array(s.utf8), negated: negated, directoryOnly: directoryOnly, anchored: anchored))
    }

    /// Whether `path` (or a directory it lies in) is ignored.
    public func isIgnored(_ path: RelativePath, isDirectory: Bool) -> Bool {
        if patterns.isEmpty { return false }
        for a in path.ancestors where decide(a, isDirectory: true) { return true }
        return decide(path, isDirectory: isDirectory)
    }

    /// The decision for `path` alone, its directories assumed not ignored (for walkers that prune).
    public func decide(_ path: RelativePath, isDirectory: Bool) -> Bool {
        if patterns.isEmpty { return false }
        var ignored = false
        let full = Array(path.rawValue.utf8)
        let name = Array(path.name.utf8)
        for p in patterns where !(p.directoryOnly && !isDirectory) {
            let hit = p.anchored ? Glob.match(p.glob, full) : Glob.match(p.glob, name)
            if hit { ignored = !p.negated }
        }
        return ignored
    }
}

/// Glob matching over bytes where `*` and `?` stop at `/` and `**` crosses directories.
enum Glob {
    static let star = UInt8(ascii: "*"), slash = UInt8(ascii: "/"), qmark = UInt8(ascii: "?")
    static let lbracket = UInt8(ascii: "["), rbracket = UInt8(ascii: "]"), backslash = UInt8(ascii: "\\")

    static func match(_ p: [UInt8], _ s: [UInt8]) -> Bool { match(p, 0, s, 0) }

    static func match(_ p: [UInt8], _ pi0: Int, _ s: [UInt8], _ si0: Int) -> Bool {
        var pi = pi0, si = si0
        while pi < p.count {
            let c = p[pi]
            if c == star {
                if pi + 1 < p.count && p[pi + 1] == star {
                    // `**`: with a following '/', zero or more whole directories; at the end, everything.
                    var next = pi + 2
                    if next == p.count { return true }
                    if p[next] == slash {
                        next += 1
                        if match(p, next, s, si) { return true }
                        var k = si
                        while k < s.count {
                            if s[k] == slash && match(p, next, s, k + 1) { return true }
                            k += 1
                        }
                        return false
                    }
                    pi = next - 1 // behaves as a single star
                    continue
                }
                var k = si
                while true {
                    if match(p, pi + 1, s, k) { return true }
                    if k >= s.count || s[k] == slash { return false }
                    k += 1
                }
            }
            guard si < s.count else { return false }
            if c == qmark {
                if s[si] == slash { return false }
            } else if c == lbracket, let (ok, end) = matchClass(p, pi, s[si]) {
                if !ok || s[si] == slash { return false }
                pi = end
                si += 1
                continue
            } else if c == backslash && pi + 1 < p.count {
                pi += 1
                if p[pi] != s[si] { return false }
            } else if c != s[si] {
                return false
            }
            pi += 1
            si += 1
        }
        return si == s.count
    }

    /// Matches `b` against the class starting at `p[start] == '['`; returns the result and the index after `]`.
    static func matchClass(_ p: [UInt8], _ start: Int, _ b: UInt8) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < p.count && (p[i] == UInt8(ascii: "!") || p[i] == UInt8(ascii: "^")) { negate = true; i += 1 }
        var matched = false
        var first = true
        while i < p.count && (p[i] != rbracket || first) {
            first = false
            var lo = p[i]
            if lo == backslash && i + 1 < p.count { i += 1; lo = p[i] }
            if i + 2 < p.count && p[i + 1] == UInt8(ascii: "-") && p[i + 2] != rbracket {
                let hi = p[i + 2]
                if lo <= b && b <= hi { matched = true }
                i += 3
            } else {
                if lo == b { matched = true }
                i += 1
            }
        }
        guard i < p.count else { return nil } // no closing bracket: a literal '['
        return (matched != negate, i + 1)
    }
}
