/// Quoting of paths in line-oriented output, as git does: a name with a newline, tab, quote,
/// backslash or control byte is written in double quotes with C escapes, so it cannot break a line.
public enum PathQuoting {
    public static func quote(_ s: String) -> String {
        let bytes = Array(s.utf8)
        let needs = bytes.isEmpty || bytes.first == 0x20 || bytes.last == 0x20
            || bytes.contains { $0 < 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        guard needs else { return s }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
            case 0x0a: out += Array("\\n".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x0d: out += Array("\\r".utf8)
            case _ where b < 0x20 || b == 0x7f:
                out.append(UInt8(ascii: "\\"))
                out += Array(String(b, radix: 8).leftPadded(to: 3, with: "0").utf8)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// The inverse of `quote`; nil for a malformed quoted string.
    public static func unquote(_ s: Substring) -> String? {
        guard s.first == "\"" else { return String(s) }
        let bytes = Array(s.utf8)
        guard bytes.count >= 2, bytes.last == UInt8(ascii: "\"") else { return nil }
        var out: [UInt8] = []
        var i = 1
        while i < bytes.count - 1 {
            let b = bytes[i]
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            guard i + 1 < bytes.count - 1 else { return nil }
            let c = bytes[i + 1]
            switch c {
            case UInt8(ascii: "n"): out.append(0x0a); i += 2
            case UInt8(ascii: "t"): out.append(0x09); i += 2
            case UInt8(ascii: "r"): out.append(0x0d); i += 2
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(c); i += 2
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard i + 3 < bytes.count - 1 + 1, i + 3 <= bytes.count - 1,
                      let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) else { return nil }
                out.append(v); i += 4
            default: return nil
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

extension String {
    func leftPadded(to n: Int, with c: Character) -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
