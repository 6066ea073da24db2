/// Lower-case RFC 4648 base32 without padding: ids that are safe in file names and URLs.
enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encode<B: Sequence>(_ bytes: B) -> String where B.Element == UInt8 {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func isValid(_ s: Substring) -> Bool {
        s.utf8.allSatisfy(isDigit)
    }

    /// Whether `b` is one of the alphabet's characters (a to z, 2 to 7).
    static func isDigit(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "2") && b <= UInt8(ascii: "7"))
    }
}
