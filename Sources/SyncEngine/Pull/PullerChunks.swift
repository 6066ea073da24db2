import Foundation
import SyncCore
import SyncGit

/// A new version of a large file made of the chunks this node holds of its own version and the
/// few it fetches: no signature read from the local file, no delta computed over the peer's.
extension Puller {
    /// A run of the new version: bytes copied from the local version, or fetched from the peer
    /// (the chunks of the new manifest it covers, to check each as it comes).
    enum ChunkStep {
        case copy(from: Int64, length: Int64)
        case fetch(offset: Int64, length: Int64, chunks: Range<Int>)
    }

    /// The most one fetch asks for, and the most fetches in flight.
    static let chunkFetchBytes: Int64 = 8 << 20
    static let chunkFetchesInFlight = 4

    /// A manifest builder for content `r` when a manifest is kept of it (above max-blob).
    func manifestBuilder(for r: FileEntry) -> ManifestBuilder? {
        guard !dryRun, ChunkManifest.applies(toSize: r.size, maxBlob: context.folder.config.maxBlob) else { return nil }
        return ManifestBuilder(size: r.size)
    }

    /// Keeps the manifest `builder` made of `r`'s content (called once that content matched its id).
    func keepManifest(_ builder: ManifestBuilder?, of r: FileEntry) {
        if let m = builder?.finish(), let hash = r.hash { manifests[hash] = m.encoded }
    }

    /// Builds `r` from the local version `b`'s chunks and the peer's, when both sides keep a
    /// manifest of their version (made with the same average size). Returns whether the file
    /// written matched `r`'s id; false, with nothing asked of the peer that is not read, when
    /// this way does not apply or did not work (the caller then tries a delta, then the whole file).
    func chunked(_ r: FileEntry, basis b: FileEntry, _ fd: Int32) throws -> Bool {
        guard let hash = r.hash, let baseHash = b.hash,
              ChunkManifest.applies(toSize: r.size, maxBlob: context.folder.config.maxBlob),
              let ownBytes = try context.index.manifest(for: baseHash),
              let own = ChunkManifest(decoding: ownBytes, size: b.size), own.form == .kept else { return false }
        let theirs: ChunkManifest
        do {
            guard let m = ChunkManifest(decoding: try remote.manifest(r.path.rawValue, hash: hash, limit: ChunkManifest.maxBytes),
                                        size: r.size) else { return false }
            theirs = m
        } catch is RemoteError {
            return false
        }
        guard theirs.shift == own.shift else { return false }
        let (steps, ids) = Self.plan(theirs, from: own)
        // Nothing in common: the whole file costs no more, and needs no reading here.
        guard steps.contains(where: { if case .copy = $0 { return true } else { return false } }) else { return false }

        let base = try Beneath.openForReading(b.path, in: root)
        reset(fd)
        let hasher = ThreadedBlobHasher(size: r.size)
        let what = context.absolute(r.path) + " (temporary)"
        // Fetches are asked for ahead of the copies before them; every one asked for is read.
        var fetches = steps.compactMap { step -> (offset: Int64, length: Int64, chunks: Range<Int>)? in
            if case .fetch(let o, let l, let c) = step { return (o, l, c) } else { return nil }
        }[...]
        var inFlight: [UInt32] = []
        func askAhead() throws {
            while inFlight.count < Self.chunkFetchesInFlight, let f = fetches.first {
                inFlight.append(try remote.requestContent(r.path.rawValue, hash: hash, offset: f.offset, length: f.length))
                fetches = fetches.dropFirst()
            }
        }
        var good = true
        // The whole ids of the new version's chunks: ours as we keep them, the fetched as they came.
        var whole = ids
        defer {
            // Answers asked for and not read yet are read and dropped: the link stays in step.
            for id in inFlight { _ = try? remote.receiveContent(id, into: -1, limit: Self.chunkFetchBytes) }
        }
        try askAhead()
        for step in steps {
            switch step {
            case .copy(let from, let length):
                // A local version shorter than its manifest says (it changed here) ends this way.
                guard (try? FileSystem.copy(from: base.raw, to: fd, what: what, sparse: true, range: from..<(from + length)) {
                    hasher.update($0)
                }) != nil else { return false }
            case .fetch(_, let length, let chunks):
                let id = inFlight.removeFirst()
                var check = ChunkCheck(theirs.chunks[chunks])
                let n = try remote.receiveContent(id, into: fd, limit: length) {
                    hasher.update($0)
                    check.update($0)
                    try self.received($0.count)
                }
                if n != length || !check.finish() { good = false } else { whole.replaceSubrange(chunks, with: check.ids) }
                try askAhead()
            }
            guard good else { return false }
        }
        try POSIX.endSparse(fd, path: what)
        guard hasher.finish() == hash else { return false }
        manifests[hash] = ChunkManifest(shift: theirs.shift, size: theirs.size,
                                        chunks: zip(theirs.chunks, whole).map { .init(length: $0.length, id: $1) }).encoded
        outcome.filesFromChunks += 1
        return true
    }

    /// The steps that make `theirs` from the chunks of `own` (whole ids; theirs may be as sent):
    /// each chunk of ours that the new version holds is copied (adjacent ones in one step), the
    /// others fetched (adjacent ones in one request, up to `chunkFetchBytes`). With them, the whole
    /// ids of the chunks copied (those fetched are empty until they come).
    static func plan(_ theirs: ChunkManifest, from own: ChunkManifest) -> (steps: [ChunkStep], ids: [[UInt8]]) {
        var here: [ArraySlice<UInt8>: (at: Int64, id: [UInt8])] = [:]
        var at: Int64 = 0
        for c in own.chunks {
            let key = c.id.prefix(theirs.form.idSize)
            if here[key] == nil { here[key] = (at, c.id) }
            at += Int64(c.length)
        }
        var steps: [ChunkStep] = []
        var ids: [[UInt8]] = []
        var offset: Int64 = 0
        for (i, c) in theirs.chunks.enumerated() {
            let length = Int64(c.length)
            let mine = here[c.id[...]]
            ids.append(mine?.id ?? [])
            if let from = mine?.at {
                if case .copy(let f, let l)? = steps.last, f + l == from {
                    steps[steps.count - 1] = .copy(from: f, length: l + length)
                } else {
                    steps.append(.copy(from: from, length: length))
                }
            } else if case .fetch(let o, let l, let cs)? = steps.last, l + length <= chunkFetchBytes {
                steps[steps.count - 1] = .fetch(offset: o, length: l + length, chunks: cs.lowerBound..<(i + 1))
            } else {
                steps.append(.fetch(offset: offset, length: length, chunks: i..<(i + 1)))
            }
            offset += length
        }
        return (steps, ids)
    }
}

/// Checks fetched bytes against the chunks they should be (whole ids, or their first bytes), as
/// they come; keeps the whole ids.
struct ChunkCheck {
    private var expected: ArraySlice<ChunkManifest.Chunk>
    private var hasher: BlobHasher?
    private var left = 0
    private var ok = true
    /// The whole ids of the chunks checked so far.
    private(set) var ids: [[UInt8]] = []

    init(_ chunks: ArraySlice<ChunkManifest.Chunk>) { expected = chunks }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count, ok {
                if hasher == nil {
                    guard let c = expected.first else { ok = false; return }
                    hasher = BlobHasher(size: Int64(c.length))
                    left = c.length
                }
                let n = min(left, raw.count - i)
                hasher!.update(UnsafeRawBufferPointer(rebasing: raw[i..<(i + n)]))
                i += n
                left -= n
                if left == 0 {
                    let id = hasher!.digest()
                    let want = expected.first!.id
                    if want.isEmpty || id.prefix(want.count) != want[...] { ok = false }
                    ids.append(id)
                    expected = expected.dropFirst()
                    hasher = nil
                }
            }
        }
    }

    /// Whether every chunk came, each matching its id.
    func finish() -> Bool { ok && hasher == nil && expected.isEmpty }
}
