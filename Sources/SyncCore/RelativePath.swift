import Foundation

/// A path inside a folder, '/'-separated, that cannot name anything outside it:
/// no leading '/', no empty, '.' or '..' component, no NUL, valid UTF-8.
public struct RelativePath: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ string: String) throws {
        if let reason = RelativePath.problem(string) {
            throw SyncError.invalidPath(string, reason: reason)
        }
        rawValue = string
    }

    /// What makes `s` no path inside a folder, or nil. Read on its bytes, as the kernel reads it:
    /// a '/' that Swift's characters join to a mark before or after it ("a/\u{338}b") still
    /// separates two components on disk.
    static func problem(_ s: String) -> String? {
        var s = s
        return s.withUTF8 { b -> String? in
            if b.isEmpty { return "empty" }
            if b[0] == UInt8(ascii: "/") { return "absolute" }
            if b.contains(0) { return "contains NUL" }
            if b.count > 4096 { return "longer than 4096 bytes" }
            var start = 0
            while start <= b.count {
                var end = start
                while end < b.count && b[end] != UInt8(ascii: "/") { end += 1 }
                let n = end - start
                if n == 0 { return "empty component" }
                if b[start] == UInt8(ascii: "."), n == 1 || (n == 2 && b[start + 1] == UInt8(ascii: ".")) {
                    return n == 1 ? "'.' component" : "'..' component"
                }
                if n > 255 { return "component longer than 255 bytes" }
                start = end + 1
            }
            return nil
        }
    }

    /// The components, split on '/' bytes (see `problem`).
    public var components: [String] {
        rawValue.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Where the last '/' byte is, if any (components are split on bytes; see `problem`).
    private var lastSlash: String.Index? { rawValue.utf8.lastIndex(of: UInt8(ascii: "/")) }

    /// The last component.
    public var name: String {
        guard let i = lastSlash else { return rawValue }
        return String(decoding: rawValue.utf8[rawValue.utf8.index(after: i)...], as: UTF8.self)
    }

    /// The enclosing directory, or nil at the folder root.
    public var parent: RelativePath? {
        guard let i = lastSlash else { return nil }
        return RelativePath(unchecked: String(decoding: rawValue.utf8[..<i], as: UTF8.self))
    }

    /// Paths are equal, and hashed, by their bytes, as the file system and the index tell them
    /// apart: "é" composed and "e" with a combining accent are two files, not one (Swift's strings
    /// compare them equal).
    public static func == (a: RelativePath, b: RelativePath) -> Bool { compareBytes(a.rawValue, b.rawValue) == 0 }
    public func hash(into hasher: inout Hasher) {
        var s = rawValue
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Every enclosing directory, outermost first.
    public var ancestors: [RelativePath] {
        var out: [RelativePath] = []
        var p = parent
        while let q = p { out.append(q); p = q.parent }
        return out.reversed()
    }

    /// `self` joined with one more component; only the new component needs checking.
    public func appending(_ name: String) throws -> RelativePath {
        let joined = rawValue + "/" + name
        let u = name.utf8
        let reason: String? =
            u.isEmpty ? "empty component"
            : (u.elementsEqual(".".utf8) || u.elementsEqual("..".utf8)) ? "'\(name)' component"
            : u.contains(UInt8(ascii: "/")) ? "name contains '/'"
            : u.contains(0) ? "contains NUL"
            : u.count > 255 ? "component longer than 255 bytes"
            : joined.utf8.count > 4096 ? "longer than 4096 bytes" : nil
        if let reason { throw SyncError.invalidPath(joined, reason: reason) }
        return RelativePath(unchecked: joined)
    }

    /// `self` (the root when nil) joined with a name the kernel listed, which is never empty, `.`
    /// or `..`, nor holds '/' or NUL, nor is longer than 255 bytes: only the whole length is left
    /// to check (nil above 4096 bytes).
    package static func joining(_ dir: RelativePath?, listed name: String) -> RelativePath? {
        guard let dir else { return RelativePath(unchecked: name) }
        let count = dir.rawValue.utf8.count + 1 + name.utf8.count
        guard count <= 4096 else { return nil }
        var joined = String()
        joined.reserveCapacity(count) // one allocation (`a + "/" + b` makes two)
        joined += dir.rawValue
        joined += "/"
        joined += name
        return RelativePath(unchecked: joined)
    }

    /// Whether `self` is `other` or lies below it.
    public func isWithin(_ other: RelativePath) -> Bool {
        let (me, them) = (rawValue.utf8, other.rawValue.utf8)
        guard me.starts(with: them) else { return false }
        let rest = me.dropFirst(them.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }

    /// For paths this node recorded itself after checking them (its own index rows, a scan's
    /// packed list): never for bytes from a peer.
    package init(unchecked: String) { rawValue = unchecked }

    public var description: String { rawValue }
    /// Bytes compared, as SQLite's BINARY collation and git compare paths ("a-b" < "a/b" < "a0").
    public static func < (a: RelativePath, b: RelativePath) -> Bool {
        bytesPrecede(a.rawValue, b.rawValue)
    }

    /// `a`'s UTF-8 bytes against `b`'s: negative when `a` sorts first, zero when they are equal.
    public static func compareBytes(_ a: String, _ b: String) -> Int {
        var a = a, b = b
        return a.withUTF8 { pa in b.withUTF8 { pb in compareBytes(UnsafeRawBufferPointer(pa), UnsafeRawBufferPointer(pb)) } }
    }

    /// `a` against `b`, bytes compared (memcmp, then the shorter first): negative when `a` sorts
    /// first, zero when they are equal.
    public static func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        let c = n == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, n)
        return c != 0 ? Int(c) : a.count - b.count
    }

    /// Whether `a`'s UTF-8 bytes sort before `b`'s: memcmp where both are contiguous (native strings).
    public static func bytesPrecede(_ a: String, _ b: String) -> Bool { bytesPrecede(a, false, b, false) }

    /// Whether `a` (followed by '/' when `aSlash`) sorts before `b` (the same), bytes compared: a
    /// directory's contents sort where "name/" does (a scan's sort key), with no string made.
    public static func bytesPrecede(_ a: String, _ aSlash: Bool, _ b: String, _ bSlash: Bool) -> Bool {
        var a = a, b = b
        return a.withUTF8 { pa in
            b.withUTF8 { pb in
                let n = min(pa.count, pb.count)
                let c = n == 0 ? 0 : memcmp(pa.baseAddress!, pb.baseAddress!, n)
                if c != 0 { return c < 0 }
                // One is a prefix of the other: what follows it, '/' or nothing, against the other's byte.
                let slash = UInt8(ascii: "/")
                if pa.count == pb.count { return !aSlash && bSlash }
                if pa.count < pb.count { return aSlash ? slash < pb[n] : true }
                return bSlash ? pa[n] < slash : false
            }
        }
    }
}

extension String {
    /// The bytes as a string if they are UTF-8, else nil; without the generic path of
    /// `String(validating:as:)`, which costs a metadata lookup a call (a scan makes one per name).
    package static func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let s = String(decoding: bytes, as: UTF8.self)
        // Decoding replaces what is not UTF-8: the same bytes back means they all were.
        guard s.utf8.count == bytes.count, let base = bytes.baseAddress else { return bytes.isEmpty ? s : nil }
        let same = s.utf8.withContiguousStorageIfAvailable { memcmp($0.baseAddress!, base, bytes.count) == 0 }
        return (same ?? s.utf8.elementsEqual(bytes)) ? s : nil
    }
}
