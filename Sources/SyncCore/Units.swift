/// Parsing of the human units used in settings and options: durations and sizes.
public enum Units {
    /// `200ms`, `2s`, `5m`, `1h`, `90d`, `2w` (a bare number is seconds) -> seconds.
    public static func duration(_ s: String) -> Double? {
        let table: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]
        for (suffix, factor) in table where s.hasSuffix(suffix) {
            let num = s.dropLast(suffix.count)
            if let v = Double(num), v >= 0, v.isFinite, !num.hasPrefix("+") { return v * factor }
        }
        if let v = Double(s), v >= 0, v.isFinite { return v }
        return nil
    }

    /// `512`, `64K`, `16M`, `20G`, `1T` (binary multiples, optional trailing `B` or `iB`) -> bytes.
    public static func size(_ s: String) -> Int64? {
        var t = s.uppercased()
        if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
        let table: [(Character, Int64)] = [("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)]
        for (suffix, factor) in table where t.last == suffix {
            guard let v = Int64(t.dropLast()), v >= 0 else { return nil }
            let (r, o) = v.multipliedReportingOverflow(by: factor)
            return o ? nil : r
        }
        guard let v = Int64(t), v >= 0 else { return nil }
        return v
    }

    /// A duration for people, to the two largest units: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
    public static func formatDuration(_ seconds: Double) -> String {
        // Never a trap: not a number counts as 0, and anything past a million years as that.
        let s = seconds.isNaN ? 0 : Int64(min(max(0, seconds.rounded()), 3.2e13))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" + (s % 60 > 0 ? " \(s % 60) s" : "") }
        if s < 86400 { return "\(s / 3600) h" + ((s % 3600) / 60 > 0 ? " \((s % 3600) / 60) min" : "") }
        return "\(s / 86400) d" + ((s % 86400) / 3600 > 0 ? " \((s % 86400) / 3600) h" : "")
    }

    /// A byte count for people: `1.5 MiB`.
    public static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }
}
