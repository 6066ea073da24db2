/// The reversible escape under which history stores names git refuses in a tree.
///
/// git (and libgit2) refuse tree entries that could write into a `.git` directory on some file
/// system: `.git` in any case, `.git` followed by dots, spaces or `:` (NTFS), `git~1` (an NTFS short
/// name) and `.git` with Unicode code points that HFS+ ignores. A folder may hold any of them (a git
/// checkout holds `.git`), so history keeps such a name, and every name that starts with `%`, as
/// `%` followed by the percent-encoded UTF-8 bytes of its first character, each `%` in it written
/// `%25`: `.git` is stored as `%2Egit`, `git~1` as `%67it~1`, `%x` as `%25x`. A stored name that
/// starts with `%` is read back by decoding every `%XX` in it; any other name is stored as it is.
/// The rule is a superset of what libgit2 1.5 refuses (with core.protectNTFS and protectHFS on).
enum TreeName {
    /// The name history stores for the real name `name` (one path component).
    public static func escape<S: StringProtocol>(_ name: S) -> String {
        guard needsEscape(name) else { return String(name) }
        var out = ""
        for (i, scalar) in name.unicodeScalars.enumerated() {
            if i == 0 || scalar == "%" {
                for b in String(scalar).utf8 { out += "%" + hex(b) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The real name for a name history stores (the inverse of `escape`); a stored name that is not
    /// a well-formed escape is returned as it is.
    static func unescape<S: StringProtocol>(_ stored: S) -> String {
        guard stored.utf8.first == UInt8(ascii: "%") else { return String(stored) }
        var bytes: [UInt8] = []
        let u = Array(stored.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%") {
                guard i + 2 < u.count, let hi = digit(u[i + 1]), let lo = digit(u[i + 2]) else { return String(stored) }
                bytes.append(hi << 4 | lo)
                i += 3
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? String(stored)
    }

    /// `path` ('/'-separated) with each component escaped.
    public static func escape(path: String) -> String {
        guard path.utf8.contains(where: mayNeedEscape) else { return path }
        return components(path).map { escape($0) }.joined(separator: "/")
    }

    /// `path` ('/'-separated, as history stores it) with each component unescaped.
    static func unescape(path: String) -> String {
        guard path.utf8.contains(UInt8(ascii: "%")) else { return path }
        return components(path).map { unescape($0) }.joined(separator: "/")
    }

    /// `path`'s components, split on '/' bytes (a '/' joined to a mark in one Swift character
    /// still separates components on disk).
    private static func components(_ path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring(String(decoding: $0, as: UTF8.self)) }
    }

    /// Whether `name` is one history keeps under the escape.
    static func needsEscape<S: StringProtocol>(_ name: S) -> Bool {
        guard let first = name.utf8.first else { return false }
        if first == UInt8(ascii: "%") { return true }
        // Fold as HFS+ compares: ignorable code points dropped, ASCII letters in lower case.
        var folded: [UInt8] = []
        for s in name.unicodeScalars where !hfsIgnorable.contains(s.value) {
            if s.isASCII {
                let v = UInt8(s.value)
                folded.append(v >= UInt8(ascii: "A") && v <= UInt8(ascii: "Z") ? v + 32 : v)
            } else {
                folded += Array(String(s).utf8)
            }
        }
        let dotGit = Array(".git".utf8), shortName = Array("git~".utf8)
        if folded.starts(with: shortName), folded.count > 4, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(folded[4]) { return true }
        guard folded.starts(with: dotGit) else { return false }
        let rest = folded.dropFirst(dotGit.count)
        if rest.first == UInt8(ascii: "\\") { return true }
        // NTFS drops trailing dots and spaces, and reads what follows ':' as a stream name.
        return rest.prefix { $0 != UInt8(ascii: ":") }.allSatisfy { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: " ") }
    }

    /// Bytes that start a name needing a look: cheap test to leave most paths untouched.
    private static func mayNeedEscape(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "%") || b == UInt8(ascii: ".") || b == UInt8(ascii: "g") || b == UInt8(ascii: "G") || b >= 0x80
    }

    /// Code points HFS+ ignores when it compares names (as git's `core.protectHFS` lists them).
    static let hfsIgnorable: Set<UInt32> = [0x200c, 0x200d, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
                                            0x206a, 0x206b, 0x206c, 0x206d, 0x206e, 0x206f, 0xfeff]

    private static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String(digits[Int(b >> 4)]) + String(digits[Int(b & 0xf)])
    }

    private static func digit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
