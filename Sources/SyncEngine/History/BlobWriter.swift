import Foundation
import SyncCore
import SyncGit

/// Stores received files as history blobs on a thread of its own, with its own libgit2 handle,
/// while the pull goes on fetching the next files; the batch's commit waits for it (`finish`).
final class BlobWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "sync.pull.blobs")
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var results: [RelativePath: Result<ObjectID, Error>] = [:]
    /// Used on `queue` only.
    private let repository: HistoryRepository
    private let root: String
    /// Files up to this size are read whole and stored from memory.
    private let inMemory: Int64
    /// Where the small ones go (used on `queue` only); written out by `finish`.
    private let pack: PackWriter
    /// The paths whose blob waits in `pack` (used on `queue` only).
    private var packed: [RelativePath] = []

    init(historyPath: String, root: String, inMemory: Int64) throws {
        repository = try HistoryRepository(openAt: historyPath)
        self.root = root
        self.inMemory = inMemory
        pack = PackWriter(repository)
    }

    /// Stores the file now at `path` (of `size` bytes, as it was written).
    func submit(_ path: RelativePath, size: Int64) {
        queue.async(group: group) {
            let result = Result {
                try self.repository.storeFile(path, size: size, root: self.root, inMemory: self.inMemory, pack: self.pack)
            }
            if case .success = result, size <= self.inMemory { self.packed.append(path) }
            self.lock.lock()
            self.results[path] = result
            self.lock.unlock()
        }
    }

    /// Stores `bytes`, the content now at `path`, checked to be blob `id` as it came (a small file
    /// fetched ahead: neither read nor hashed again).
    func submit(_ path: RelativePath, bytes: [UInt8], id: ObjectID) {
        queue.async(group: group) {
            let result = Result { try self.pack.add(bytes, verified: id); return id }
            if case .success = result { self.packed.append(path) }
            self.lock.lock()
            self.results[path] = result
            self.lock.unlock()
        }
    }

    /// Opens the history anew if a prune rewrote it (see `HistoryRepository.reopenIfRewritten`).
    func reopen() { queue.sync { try? repository.reopenIfRewritten() } }

    /// Waits for every file submitted so far; returns the blob each became, or why it did not.
    func finish() -> [RelativePath: Result<ObjectID, Error>] {
        group.wait()
        queue.sync {
            // The pack of the small ones, written before any tree names them; if it cannot be,
            // none of them is stored.
            do { try pack.flush() } catch {
                lock.lock()
                for p in packed { results[p] = .failure(error) }
                lock.unlock()
            }
            packed = []
        }
        lock.lock()
        defer { results = [:]; lock.unlock() }
        return results
    }
}

extension HistoryRepository {
    /// Stores the file at `path` under `root` as a blob: read whole and stored from memory when it
    /// is at most `inMemory` bytes (`size`, as recorded), else streamed from the file.
    func storeFile(_ path: RelativePath, size: Int64, root: String, inMemory: Int64, pack: PackWriter? = nil) throws -> ObjectID {
        let fd = try Beneath.openForReading(path, in: root)
        if size <= inMemory, let bytes = try? readAll(fd.raw, limit: Int(size)) { return try pack?.add(bytes) ?? writeBlob(bytes) }
        return try writeBlob(fromFile: "/proc/self/fd/\(fd.raw)")
    }
}

/// The whole content of `fd` from its current offset, if it is at most `limit` bytes.
func readAll(_ fd: Int32, limit: Int) throws -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: limit + 1)
    var have = 0
    while have <= limit {
        let n = try out.withUnsafeMutableBytes {
            try POSIX.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[have...]), path: "/proc/self/fd/\(fd)")
        }
        if n == 0 { out.removeSubrange(have...); return out }
        have += n
    }
    return nil
}
