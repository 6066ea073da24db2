import SyncGit

/// A received file's history blob written as its bytes come in (`LooseBlobSink`), so that the
/// blob writer does not read and hash the file again once it is in place. Only for content that
/// looks as if zlib could not shrink it (judged on its first 64 KiB, as `StoredObject` judges a
/// file); other content, and any failure here, is left to the blob writer as before.
/// Used by one thread at a time: the hashing thread of the transfer while the bytes come (it is
/// that thread's `alongside`), then the caller once the hasher's `finish` has waited for them all.
final class HistoryTee: @unchecked Sendable {
    static let sampleSize = 64 << 10
    private let history: HistoryRepository
    private let size: Int64
    /// The first bytes, until they decide (`sampleSize`, or the whole content if it is shorter).
    private var sample: [UInt8] = []
    private var sink: LooseBlobSink?
    private var declined = false

    init(history: HistoryRepository, size: Int64) {
        self.history = history
        self.size = size
    }

    /// `update`, as a hashing thread's `alongside`.
    var feed: @Sendable (UnsafeRawBufferPointer) -> Void { { self.update($0) } }

    /// The next bytes of the content, in order from its first.
    func update(_ bytes: UnsafeRawBufferPointer) {
        guard !declined else { return }
        if let sink {
            do { try sink.append(bytes) } catch { decline() }
            return
        }
        sample += bytes
        guard sample.count >= Self.sampleSize || Int64(sample.count) >= size else { return }
        guard LooseBlobSink.suits(sample[...]), let s = try? history.blobSink(size: size) else { return decline() }
        do { try sample.withUnsafeBytes { try s.append($0) } } catch { return decline() }
        sink = s
        sample = []
    }

    /// Names the blob `id`, which the caller found to be the hash of exactly the bytes given;
    /// returns whether it is stored.
    func finish(as id: ObjectID) -> Bool {
        guard let sink, !declined else { return false }
        return (try? sink.finish(as: id)) != nil
    }

    private func decline() {
        declined = true
        sink = nil
        sample = []
    }
}
