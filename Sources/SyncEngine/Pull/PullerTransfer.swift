import Foundation
import SyncCore
import SyncDelta
import SyncGit
import SyncProtocol

/// Getting content: from this node (a file or a history blob with that hash), whole from the peer
/// (resumed where a cut transfer stopped), or as a delta against the local version.
extension Puller {
    /// A transfer cut off by the link going away resumes later; one the peer garbled does not.
    static func resumable(_ error: Error) -> Bool {
        if let p = error as? ProtocolError { return p == .closed }
        return true
    }

    func reset(_ fd: Int32) { ftruncate(fd, 0); lseek(fd, 0, SEEK_SET) }

    /// Content already on this node: a live file with that hash, or a blob in history.
    func fromHere(_ hash: String, _ fd: Int32) throws -> Bool {
        for p in try context.index.files(withHash: hash).prefix(3) {
            guard let src = try? Beneath.openForReading(p, in: root) else { continue }
            reset(fd)
            // Hashed as it is copied: the bytes written are the bytes that matched (a renamed or
            // copied file costs one read, not two). Holes stay holes.
            var st = stat()
            guard fstat(src.raw, &st) == 0 else { continue }
            var hasher = BlobHasher(size: Int64(st.st_size))
            guard (try? FileSystem.copy(from: src.raw, to: fd, what: context.absolute(p), sparse: true) { hasher.update($0) }) != nil
            else { continue }
            var after = stat()
            if fstat(fd, &after) == 0, after.st_size == st.st_size, hasher.finish() == hash { return true }
        }
        if let id = try? ObjectID(hex: hash), let history = try? context.history, history.contains(id) {
            reset(fd)
            if (try? history.write(blob: id, to: fd)) != nil { return true }
        }
        return false
    }

    /// Fetches `r` whole from `offset`; returns whether the bytes (all of them, from offset 0) hashed
    /// to `r.hash` as they came, which spares reading the file again to check it.
    /// A file larger than `rangeSize` comes in ranges of that size, one request each, two in flight:
    /// after each, when `shouldYield` says other work waits (a peer's notice), the transfer stops
    /// once the range in flight is in (`Yielded`; what came stays in the temporary file to resume from).
    /// From offset 0, the history blob is written as the bytes come (`tee(for:)`).
    /// Its first range may have been asked for already, while the row before it came (`askNextAhead`);
    /// as its last range is asked for, the next row's first one is (the peer sends it while this
    /// row is made durable and put in place).
    func whole(_ r: FileEntry, offset: Int64, _ fd: Int32) throws -> Bool {
        let early = offset == 0 ? try takeNextAhead(r) : nil
        guard r.size - offset > Self.rangeSize else {
            let id = try early?.ranges[0].id ?? remote.requestContent(r.path.rawValue, hash: r.hash!, offset: offset)
            try askNextAhead(after: r)
            return try receive(id, r, offset: offset, into: fd)
        }
        // Hashed on a thread of its own, beside the writes, with its history copy written there
        // too (up to max-blob), or its chunk manifest made there (above).
        let tee = offset == 0 ? tee(for: r) : nil
        let builder = offset == 0 && tee == nil ? manifestBuilder(for: r) : nil
        let hasher = offset == 0 ? ThreadedBlobHasher(size: r.size, alongside: tee?.feed ?? builder?.feed) : nil
        var at = offset, asked = offset
        var inFlight: [(id: UInt32, length: Int64)] = []
        func ask() throws {
            let length = r.size - asked > Self.rangeSize ? Self.rangeSize : 0
            inFlight.append((try remote.requestContent(r.path.rawValue, hash: r.hash!, offset: asked, length: length), length))
            asked = length > 0 ? asked + length : r.size
            if asked == r.size { try askNextAhead(after: r) }
        }
        // The next range is asked for before the one before it is read: the link never waits a
        // round trip between two. What is asked for is read, whatever happens (answers come in order).
        if let early {
            inFlight = early.ranges
            asked = early.end
            if asked == r.size { try askNextAhead(after: r) }
        } else {
            try ask()
        }
        var stop = false, short = false, yielded = false
        var failure: RemoteError?
        while !inFlight.isEmpty {
            if !stop, asked < r.size { try ask() }
            let (id, length) = inFlight.removeFirst()
            do {
                let n = try remote.receiveContent(id, into: fd, limit: length > 0 ? length : r.size - at) {
                    hasher?.update($0)
                    try self.received($0.count)
                }
                at += n
                // A short range: the file changed on the peer (the hash then says so).
                if length > 0 && n < length { short = true; stop = true }
            } catch let e as RemoteError {
                failure = failure ?? e
                stop = true
            }
            if !stop, at < r.size, shouldYield() { yielded = true; stop = true }
        }
        if let failure { throw failure }
        // Stopped with the file whole after all (the last range was in flight): nothing to resume.
        if yielded && at < r.size { throw Yielded() }
        guard !short && at == r.size && verified(hasher?.finish(), r, tee) else { return false }
        keepManifest(builder, of: r)
        return true
    }

    /// Reads the answer to content request `id` for `r` (from `offset`) into `fd`, hashing the bytes
    /// as they come when they start at 0; returns whether they were exactly `r`'s content.
    /// A file above the fetch-ahead size is hashed on a thread of its own, beside the writes.
    func receive(_ id: UInt32, _ r: FileEntry, offset: Int64, into fd: Int32) throws -> Bool {
        var none: [UInt8]?
        return try receive(id, r, offset: offset, into: fd, keeping: &none)
    }

    /// `receive`, appending what comes to `kept` too when it is not nil.
    func receive(_ id: UInt32, _ r: FileEntry, offset: Int64, into fd: Int32, keeping kept: inout [UInt8]?) throws -> Bool {
        var hasher = offset == 0 && r.size <= Self.stageMaxSize ? BlobHasher(size: r.size) : nil
        // A history copy is written only of files above the fetch-ahead size (`tee(for:)`): those
        // hashed on a thread of their own, where the copy is written too.
        let tee = offset == 0 ? tee(for: r) : nil
        let builder = offset == 0 && tee == nil && r.size > Self.stageMaxSize ? manifestBuilder(for: r) : nil
        let threaded = offset == 0 && r.size > Self.stageMaxSize
            ? ThreadedBlobHasher(size: r.size, alongside: tee?.feed ?? builder?.feed) : nil
        let n = try remote.receiveContent(id, into: fd, limit: r.size - offset) {
            hasher?.update($0)
            threaded?.update($0)
            if kept != nil { kept! += $0 }
            try self.received($0.count)
        }
        guard n == r.size && verified(threaded?.finish() ?? hasher?.finish(), r, tee) else { return false }
        keepManifest(builder, of: r)
        return true
    }

    /// Whether the bytes hashed to `id` are `r`'s content; if they are, the blob `tee` wrote of
    /// them is named for it.
    private func verified(_ id: String?, _ r: FileEntry, _ tee: HistoryTee?) -> Bool {
        guard let id, id == r.hash, let id = try? ObjectID(hex: id) else { return false }
        _ = tee?.finish(as: id)
        return true
    }

    /// Where the history blob of `r`, coming whole from the peer, is written as it comes: when
    /// history keeps it whole (up to `history.max-blob`), does not hold it yet, and it is larger
    /// than the files fetched ahead (those are packed together by the blob writer).
    func tee(for r: FileEntry) -> HistoryTee? {
        guard !dryRun, r.size > Self.stageMaxSize, r.size <= context.folder.config.maxBlob,
              let id = try? ObjectID(hex: r.hash!), let history = try? context.history, !history.contains(id) else { return nil }
        return HistoryTee(history: history, size: r.size)
    }

    /// Counts content as it comes; a stop asked for cuts the transfer here (what came is kept for
    /// the next pull to resume from).
    func received(_ n: Int) throws {
        outcome.contentBytes += Int64(n)
        state.bytesReceived += Int64(n)
        progress?(state)
        if cancelled() { throw PullStopped() }
    }

    /// A librsync delta against the local version `basis`.
    func delta(_ r: FileEntry, basis b: FileEntry, _ fd: Int32) throws -> Bool {
        let base = try Beneath.openForReading(b.path, in: root)
        let stem = try context.state.temporaryPath("pull")
        defer { unlink(stem + ".sig"); unlink(stem + ".delta") }
        try Delta.signature(of: "/proc/self/fd/\(base.raw)", to: stem + ".sig")
        guard let sig = try? Descriptor(opening: stem + ".sig", O_RDONLY),
              let out = try? Descriptor(opening: stem + ".delta", O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) else { return false }
        try remote.delta(r.path.rawValue, hash: r.hash!, signature: sig.raw, into: out.raw,
                         limit: r.size + r.size / 8 + (1 << 20)) { try self.received($0.count) }
        reset(fd)
        // Hashed as it is written (on a thread of its own), holes left as holes: the patched file
        // is not read again.
        let builder = manifestBuilder(for: r)
        let hasher = ThreadedBlobHasher(size: r.size, alongside: builder?.feed)
        var written: Int64 = 0
        struct Overlong: Error {}
        try Delta.patch(basis: "/proc/self/fd/\(base.raw)", delta: stem + ".delta") { piece in
            written += Int64(piece.count)
            // A delta that makes more than the announced size is not worth finishing: a few bytes of
            // copy commands can ask for terabytes (the file then comes whole).
            guard written <= r.size else { throw Overlong() }
            hasher.update(piece)
            try POSIX.writeSparse(fd, piece, path: context.absolute(r.path) + " (temporary)")
        }
        try POSIX.endSparse(fd, path: context.absolute(r.path) + " (temporary)")
        guard written == r.size && hasher.finish() == r.hash else { return false }
        keepManifest(builder, of: r)
        return true
    }
}
