import SyncCore

/// Observations packed as bytes (the stat fields, then the path's UTF-8) in chunks of 1 MiB: what
/// a scan found to record. A first commit of a million files holds each in about 60 bytes instead
/// of about 130 (a struct and the path's own allocation), and no growth copies the whole list.
struct ObservationList: RandomAccessCollection {
    private static let chunkSize = 1 << 20
    private static let fixed = 36 // kind, executable, size, mtime, ctime, inode, path length
    private static let kinds: [FileEntry.Kind] = [.file, .symlink, .directory]
    private var chunks: [[UInt8]] = []
    /// Where each observation starts: its chunk, and its offset there.
    private var starts: [(chunk: UInt32, offset: UInt32)] = []

    var startIndex: Int { 0 }
    var endIndex: Int { starts.count }

    mutating func append(_ o: Observation) {
        let path = Array(o.path.rawValue.utf8)
        let length = Self.fixed + path.count
        if chunks.isEmpty || chunks[chunks.count - 1].count + length > Self.chunkSize {
            chunks.append([])
            chunks[chunks.count - 1].reserveCapacity(Swift.max(Self.chunkSize, length))
        }
        let c = chunks.count - 1
        starts.append((UInt32(c), UInt32(chunks[c].count)))
        var bytes: [UInt8] = [UInt8(Self.kinds.firstIndex(of: o.kind)!), o.executable ? 1 : 0]
        for v in [UInt64(bitPattern: o.size), UInt64(bitPattern: o.mtimeNs), UInt64(bitPattern: o.ctimeNs), o.inode] {
            withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
        }
        withUnsafeBytes(of: UInt16(path.count).littleEndian) { bytes += $0 }
        chunks[c] += bytes
        chunks[c] += path
    }

    subscript(i: Int) -> Observation {
        let (c, o) = (Int(starts[i].chunk), Int(starts[i].offset))
        return chunks[c].withUnsafeBytes { raw in
            func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o + at, as: UInt64.self)) }
            let length = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o + 34, as: UInt16.self)))
            let text = String(decoding: raw[(o + Self.fixed)..<(o + Self.fixed + length)], as: UTF8.self)
            // Stored from a checked path, by this process.
            return Observation(path: RelativePath(unchecked: text), kind: Self.kinds[Int(raw[o])], size: Int64(bitPattern: u64(2)),
                               mtimeNs: Int64(bitPattern: u64(10)), ctimeNs: Int64(bitPattern: u64(18)),
                               inode: u64(26), executable: raw[o + 1] != 0)
        }
    }
}
