import Foundation
import SyncCore
import SyncDelta
import SyncGit
import SyncProtocol

/// The puller on the folder's disk: the checks of a peer's row, and every change through the
/// folder writer (content into a temporary file, verified, durable, renamed if nothing changed).
extension Puller {
    /// Checks a peer's row and turns it into an index row; throws `Refused` for anything unsafe.
    func validate(_ w: WireEntry, _ scanner: Scanner) throws -> FileEntry {
        let path: RelativePath
        do { path = try RelativePath(w.path) } catch let e as SyncError {
            if case .invalidPath(_, let reason) = e { throw Refused(reason: "invalid path: \(reason)") }
            throw Refused(reason: "invalid path")
        }
        guard let kind = FileEntry.Kind(rawValue: w.kind) else { throw Refused(reason: "unknown kind '\(w.kind.prefix(20))'") }
        guard let version = try? VersionVector(parsing: w.version, fromPeer: true), !version.counters.isEmpty else {
            throw Refused(reason: "bad version vector")
        }
        if scanner.skips(path, isDirectory: kind == .directory) || path.ancestors.contains(where: { scanner.skips($0, isDirectory: true) }) {
            throw Refused(reason: "ignored here")
        }
        if !w.deleted && kind != .directory {
            guard let h = w.hash, h.utf8.count == 40, h.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw Refused(reason: "bad content hash")
            }
        }
        if kind == .symlink && !w.deleted {
            guard let t = w.symlinkTarget, !t.isEmpty, t.utf8.count <= 4095, !t.utf8.contains(0) else {
                throw Refused(reason: "bad link target")
            }
            guard HistoryRepository.hash(Array(t.utf8)).hex == w.hash else { throw Refused(reason: "link target does not match its hash") }
        }
        return FileEntry(path: path, kind: kind, hash: w.deleted || kind == .directory ? nil : w.hash,
                         size: kind == .file && !w.deleted ? w.size : 0, mtimeNs: w.mtimeNs,
                         executable: kind == .file && w.executable,
                         symlinkTarget: kind == .symlink && !w.deleted ? w.symlinkTarget : nil,
                         deleted: w.deleted, version: version, sequence: w.sequence)
    }


    /// Every write into the folder goes through it.
    var writer: FolderWriter {
        FolderWriter(root: root, journal: journal, noteTemporary: dryRun ? nil : { [unowned self] in self.noteTransfer($0) },
                     directories: journal == nil ? nil : directories)
    }

    /// The stat data of `path`, never following a link on the way; nil when absent.
    /// A parent that is a link refuses the row for good; one that is a file here holds it (a
    /// concurrent change replaced the directory, and settling that conflict brings it back).
    func observe(_ path: RelativePath) throws -> Observation? {
        do { return try writer.observe(path) } catch let b as FolderWriter.Blocked { throw Self.blocked(b) }
    }

    /// Whether the path on disk is still what the index says (absent when the row is absent or deleted).
    func unchanged(_ path: RelativePath, _ local: FileEntry?) throws -> Bool {
        do { return try writer.unchanged(path, local) } catch let b as FolderWriter.Blocked { throw Self.blocked(b) }
    }

    static func blocked(_ b: FolderWriter.Blocked) -> Error {
        b.link ? Refused(reason: "a parent directory is a link here") : Held(reason: "a parent directory is a file here")
    }

    /// Removes what `local` describes at its path (after `unchanged` said it is still that).
    func remove(_ local: FileEntry) throws {
        if local.kind == .directory {
            guard try writer.removeDirectory(local.path) else { throw Held(reason: "directory not empty here") }
            return
        }
        let dir = try writer.directory(local.path.parent)
        keepLargeVersion(local, dir)
        do { try writer.remove(local.path, expecting: local) } catch is FolderWriter.Changed {
            throw Held(reason: "changed here meanwhile")
        }
        dirtyDirectories.insert(local.path.parent)
    }

    /// A file too large for history stays recoverable: a hard link in the folder's version store.
    func keepLargeVersion(_ local: FileEntry, _ dir: borrowing Descriptor) {
        guard local.kind == .file, !local.deleted, local.size > context.folder.config.maxBlob, let hash = local.hash else { return }
        let store = context.folder.directory + "/versions"
        try? FileSystem.makeDirectories(store, mode: 0o700)
        guard let s = try? Descriptor(opening: store, O_RDONLY | O_DIRECTORY) else { return }
        if linkat(dir.raw, local.path.name, s.raw, hash, 0) != 0 && errno != EEXIST {
            outcome.problems.append(PullProblem(.warning, local.path.rawValue, "old version not kept in the version store: \(String(cString: strerror(errno)))"))
        }
    }

    /// Puts the remote version `r` at `target`; `basis` is a local version to build a delta on,
    /// `replacing` what is at `target` now (checked unchanged by the caller). Returns the new row.
    func materialize(_ r: FileEntry, at target: RelativePath, basis: FileEntry?, replacing current: FileEntry?) throws -> FileEntry {
        let dir: Descriptor
        do { dir = try writer.directory(target.parent, create: true) } catch let b as FolderWriter.Blocked {
            throw Self.blocked(b)
        }
        if let c = current, !c.deleted, c.kind != r.kind || r.kind == .directory {
            if c.kind == .directory {
                if r.kind != .directory, try !writer.removeDirectory(target) { throw Held(reason: "directory not empty here") }
            } else {
                keepLargeVersion(c, dir)
                do { try writer.remove(target, expecting: c) } catch is FolderWriter.Changed {
                    throw Held(reason: "changed here meanwhile")
                }
            }
        }
        var placed: Observation?
        switch r.kind {
        case .directory:
            try writer.makeDirectoryHere(target)
        case .symlink:
            // What was at the target was removed above when it was of another kind.
            let replaced = current.flatMap { $0.kind == .symlink ? $0 : nil }
            do { try writer.placeLink(target, target: r.symlinkTarget!, replacing: replaced) } catch is FolderWriter.Changed {
                throw Held(reason: "changed here meanwhile")
            }
        case .file:
            // What was at the target was removed above when it was of another kind (a directory
            // the batch emptied, say): the file goes where nothing is.
            let replaced = current.flatMap { $0.kind == .file ? $0 : nil }
            placed = try writeFile(r, dir: dir, target: target, basis: basis, current: replaced)
        }
        dirtyDirectories.insert(target.parent)
        guard let o = try placed ?? observe(target) else { throw Held(reason: "vanished right after it was written") }
        outcome.filesFetched += r.kind == .file ? 1 : 0
        return FileEntry(path: target, kind: o.kind, hash: r.hash, size: o.size, mtimeNs: o.mtimeNs, ctimeNs: o.ctimeNs,
                         inode: o.inode, executable: o.executable, symlinkTarget: r.symlinkTarget, deleted: false,
                         version: r.version, sequence: 0)
    }

    /// Fetches a file's content into a temporary file beside the target, verifies its hash, and
    /// renames it into place only if the target is still what the caller saw. Returns the stat data
    /// of what it wrote: the inode it placed, with the size and time it gave it, so that a local
    /// write to the file right after the rename shows as a change to the next scan (a stat of the
    /// path taken now could carry that write under the peer's content id, for good).
    func writeFile(_ r: FileEntry, dir: borrowing Descriptor, target: RelativePath, basis: FileEntry?, current: FileEntry?) throws -> Observation {
        let hash = r.hash!
        if current == nil || current!.deleted, staged[target] == nil, let moved = try moveHere(r, to: target, dir: dir) { return moved }
        if deferLarge, r.size > Self.rangeSize, staged[target] == nil { throw Deferred() }
        // A fixed name per content: an interrupted transfer resumes where it stopped.
        let tmp = Scanner.temporaryPrefix + hash
        let tmpPath = try? target.parent.map({ try $0.appending(tmp) }) ?? RelativePath(tmp)
        // A file fetched ahead was noted then.
        if staged[target] == nil, let tmpPath { noteTransfer(tmpPath) }
        let opened = openat(dir.raw, tmp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard opened >= 0 else { throw SyncError.io(path: context.absolute(target), operation: "create temporary", errno: errno) }
        let file = Descriptor(opened), fd = file.raw
        var keepTemporary = false
        defer { if !keepTemporary { unlinkat(dir.raw, tmp, 0) } }
        var st = stat()
        fstat(fd, &st)
        let have = Int64(st.st_size)
        let fdPath = "/proc/self/fd/\(fd)"
        var done = false, verified = false, durable = false
        // The verified bytes of a small file fetched ahead: its history blob is made from them.
        let bytes = stagedBytes.removeValue(forKey: target)
        if staged.removeValue(forKey: target) != nil, have == r.size {
            done = true; verified = true; durable = true
        }
        if !done && have > 0 && have < r.size {
            lseek(fd, 0, SEEK_END)
            do {
                _ = try whole(r, offset: have, fd)
                done = true
            } catch let e as RemoteError { throw Held(reason: "peer: \(e.message)") }
            catch { keepTemporary = Self.resumable(error); throw error }
        }
        if !done && have == r.size && have > 0, (try? HistoryRepository.hashFile(fdPath).hex) == hash { done = true; verified = true }
        // Both of these return true only for content that matched the hash.
        if !done { done = try fromHere(hash, fd); verified = done }
        if !done, let b = basis, !b.deleted, b.kind == .file, b.size >= Self.deltaThreshold, r.size >= Self.deltaThreshold {
            // The chunks both sides hold first (large files), then a librsync delta; either failing
            // leaves the whole file to come, but a stop asked for stops here (the link is left as
            // the cut answer left it, and is not used again).
            func attempt(_ way: () throws -> Bool) throws -> Bool {
                do { return try way() } catch let e as PullStopped { throw e } catch { return false }
            }
            done = try attempt { try chunked(r, basis: b, fd) }
            if !done { done = try attempt { try delta(r, basis: b, fd) } }
            verified = done
        }
        if !done {
            reset(fd)
            do { verified = try whole(r, offset: 0, fd) } catch let e as RemoteError { throw Held(reason: "peer: \(e.message)") }
            catch { keepTemporary = Self.resumable(error); throw error }
        }
        guard verified || (try? HistoryRepository.hashFile(fdPath).hex) == hash else {
            throw Held(reason: "content from peer does not match its hash")
        }
        if !durable {
            setModeAndTime(fd, r, dir: dir.raw, target: target, current: current)
            guard fsync(fd) == 0 else { throw SyncError.io(path: context.absolute(target), operation: "fsync", errno: errno) }
        }
        // A local edit since the decision wins over our write: `rename` checks last. A version
        // kept in the version store is checked first: a file changed here is not that version.
        if let c = current, c.kind == .file, !c.deleted, c.size > context.folder.config.maxBlob {
            guard try writer.unchanged(target, current, in: dir) else { throw Held(reason: "changed here meanwhile") }
            keepLargeVersion(c, dir)
        }
        do { try writer.rename(tmp, in: dir, to: target, replacing: current) } catch is FolderWriter.Changed {
            throw Held(reason: "changed here meanwhile")
        }
        keepTemporary = true // renamed: nothing left to remove
        if let tmpPath { transferRenamed(tmpPath) }
        afterPlace?(target)
        // Fetched ahead: history lacked it when it was asked for (the blob writer looks again).
        if r.size <= context.folder.config.maxBlob {
            if let bytes, durable, bytes.count == r.size, let id = try? ObjectID(hex: hash) {
                blobs?.submit(target, bytes: bytes, id: id)
            } else if !(try context.history.contains(ObjectID(hex: hash))) {
                blobs?.submit(target, size: r.size)
            }
        }
        var now = stat()
        guard fstat(fd, &now) == 0, var placed = Scanner.observation(target, now) else {
            throw SyncError.io(path: context.absolute(target), operation: "fstat", errno: errno)
        }
        placed.size = r.size
        placed.mtimeNs = r.mtimeNs
        return placed
    }

    /// A rename the peer made, made here: a local file with `r`'s content that this batch deletes
    /// is moved to `target` (no copy, no transfer) and its deletion recorded with it. Nil when
    /// there is none, or it changed here.
    func moveHere(_ r: FileEntry, to target: RelativePath, dir: borrowing Descriptor) throws -> Observation? {
        guard let hash = r.hash, let candidates = batch.vanishing[hash] else { return nil }
        for (row, version) in candidates where !batch.movedAway.contains(row.path) {
            guard let local = locals[row.path] else { continue }
            let moved: Observation
            do { moved = try writer.move(row.path, expecting: local, to: target) } catch is FolderWriter.Changed { continue }
            catch let b as FolderWriter.Blocked { throw Self.blocked(b) }
            batch.movedAway.insert(row.path)
            var gone = row
            gone.version = version; gone.hash = nil; gone.size = 0; gone.mtimeNs = 0; gone.ctimeNs = 0; gone.inode = 0
            batch.records.append(gone)
            batch.touched.insert(row.path)
            outcome.changes.append(Change(status: .deleted, path: row.path.rawValue))
            dirtyDirectories.insert(row.path.parent)
            // The peer's mode bits and time, as for content written here; the stat data after them.
            var placed = moved
            let fd = openat(dir.raw, target.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 {
                let file = Descriptor(fd)
                setModeAndTime(file.raw, r, dir: dir.raw, target: target, current: nil)
                var now = stat()
                if fstat(file.raw, &now) == 0, let o = Scanner.observation(target, now) { placed = o }
            }
            afterPlace?(target)
            placed.size = r.size
            placed.mtimeNs = r.mtimeNs
            return placed
        }
        return nil
    }

    /// The mode a received file gets (the replaced file's, else the umask's, with x bits as the
    /// peer says) and the peer's modification time.
    func setModeAndTime(_ fd: Int32, _ r: FileEntry, dir: Int32, target: RelativePath, current: FileEntry?) {
        fchmod(fd, writer.mode(dirFD: dir, target, current, executable: r.executable))
        var times = [timespec(tv_sec: Int(r.mtimeNs / 1_000_000_000), tv_nsec: Int(r.mtimeNs % 1_000_000_000)),
                     timespec(tv_sec: Int(r.mtimeNs / 1_000_000_000), tv_nsec: Int(r.mtimeNs % 1_000_000_000))]
        times[0].tv_nsec = (1 << 30) - 2 // UTIME_OMIT
        futimens(fd, times)
    }
}
