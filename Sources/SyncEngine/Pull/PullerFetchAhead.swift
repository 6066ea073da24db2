import Foundation
import SyncCore
import SyncDelta
import SyncGit
import SyncProtocol

/// Fetching ahead: the small files a batch must fetch whole are asked for together, a window at
/// a time, and wait verified and durable in temporary files until their row is applied.
extension Puller {
    /// Fetches ahead the small files from `ordered[start...]` that must come whole from the peer,
    /// up to a window's worth; returns the index where the next window starts.
    func stage(_ ordered: [FileEntry], from start: Int) throws -> Int {
        struct Pending { let entry: FileEntry; let local: FileEntry?; let dir: Int32; let fd: Int32; let tmp: String; let id: UInt32 }
        var candidates: [(FileEntry, FileEntry?)] = []
        var hashes: Set<String> = []
        var bytes: Int64 = 0
        var end = start
        while end < ordered.count, candidates.count < Self.windowFiles, bytes < Self.windowBytes {
            let r = ordered[end]
            end += 1
            guard r.kind == .file, !r.deleted, r.size <= Self.stageMaxSize, let hash = r.hash, !hashes.contains(hash) else { continue }
            let local = locals[r.path]
            guard case .take = Reconcile.decide(local: local, remote: r, resolver: me) else { continue }
            if let l = local, !l.deleted {
                if l.sameContent(as: r) { continue }
                if l.kind == .file, l.size >= Self.deltaThreshold, r.size >= Self.deltaThreshold { continue } // a delta is cheaper
            }
            if let id = try? ObjectID(hex: hash), context.history.contains(id) { continue }
            hashes.insert(hash)
            bytes += r.size
            candidates.append((r, local))
        }
        // Content a file here has is copied from it instead (one read for the window).
        let here = try context.index.heldHashes(candidates.map { $0.0.hash! })
        candidates.removeAll { here.contains($0.0.hash!) }
        guard !candidates.isEmpty else { return end }
        var pending: [Pending] = []
        defer { for p in pending { close(p.fd); close(p.dir) } }
        // Noted together, before any of them is made.
        noteTransfers(candidates.compactMap { r, _ in
            let tmp = Scanner.temporaryPrefix + r.hash!
            return try? r.path.parent.map { try $0.appending(tmp) } ?? RelativePath(tmp)
        })
        for (r, local) in candidates {
            guard let dir = try? writer.directory(r.path.parent, create: true) else { continue } // reported later
            let tmp = Scanner.temporaryPrefix + r.hash!
            let opened = openat(dir.raw, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard opened >= 0 else { continue }
            let fd = Descriptor(opened)
            let id: UInt32
            do { id = try remote.requestContent(r.path.rawValue, hash: r.hash!) } catch { unlinkat(dir.raw, tmp, 0); throw error }
            // The window owns both descriptors from here (closed by the defer above).
            pending.append(Pending(entry: r, local: local, dir: dir.take(), fd: fd.take(), tmp: tmp, id: id))
        }
        var ready: [Pending] = []
        do {
            for p in pending {
                let matches: Bool
                do { matches = try receive(p.id, p.entry, offset: 0, into: p.fd) } catch let e as RemoteError {
                    unlinkat(p.dir, p.tmp, 0)
                    stageFailures[p.entry.path] = "peer: " + e.message
                    continue
                }
                guard matches else {
                    unlinkat(p.dir, p.tmp, 0)
                    stageFailures[p.entry.path] = "content from peer does not match its hash"
                    continue
                }
                setModeAndTime(p.fd, p.entry, dir: p.dir, target: p.entry.path, current: p.local)
                ready.append(p)
            }
        } catch {
            // The link failed: nothing of this window is kept (small files are fetched again).
            for p in pending { unlinkat(p.dir, p.tmp, 0) }
            throw error
        }
        // A few files: an fsync each (a flush of the whole file system would also wait for what
        // other writers left dirty, such as a big transfer beside it). Many: one flush for the window.
        if ready.count <= Self.fsyncEachUpTo {
            for p in ready where fsync(p.fd) != 0 {
                throw SyncError.io(path: context.absolute(p.entry.path), operation: "fsync", errno: errno)
            }
        } else if let first = ready.first, !FileSystem.syncFileSystem(of: first.fd) {
            throw SyncError.io(path: root, operation: "syncfs", errno: errno)
        }
        for p in ready { staged[p.entry.path] = p.tmp }
        return end
    }

    /// Removes content fetched ahead that was not used (its path was held or refused meanwhile).
    func discardStaged() {
        for (path, tmp) in staged {
            guard let dir = try? Beneath.directory(path.parent, in: root) else { continue }
            unlinkat(dir.raw, tmp, 0)
        }
        staged = [:]
        stageFailures = [:]
    }

    /// Makes the batch's renames and removals durable before the batch is recorded: the
    /// directories this puller changed and those its writer noted in the journal.
    func syncDirectories() throws {
        dirtyDirectories.formUnion(journal?.dirtyDirectories ?? [])
        journal?.dirtyDirectories = []
        for d in dirtyDirectories {
            guard let fd = try? Beneath.directory(d, in: root) else { continue }
            guard fsync(fd.raw) == 0 else { throw SyncError.io(path: d.map(context.absolute) ?? root, operation: "fsync", errno: errno) }
        }
        dirtyDirectories = []
    }
}
