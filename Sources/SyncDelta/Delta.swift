import CRsync
import Foundation

/// A failed librsync step: which step, on which file, and librsync's message.
public struct DeltaError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let message: String
    public var description: String { "\(path): \(operation): \(message)" }
}

/// librsync's three steps over files, streaming with fixed buffers:
/// a signature of the old version, a delta of the new version against it, and the patch that rebuilds it.
public enum Delta {
    /// librsync logs errors to standard error by default; its failures reach callers as thrown errors instead.
    private static let quiet: Bool = {
        rs_trace_to { _, _ in }
        return true
    }()

    /// Writes the signature of `basis` to `signaturePath`: librsync's block size for the file's size
    /// (its square root, as rsync's rule) and the shortest strong sum that is safe against chance
    /// collisions for that size (8 bytes for 1 GiB, not 32: the signature is a third as large).
    /// A peer that forged collisions would only spoil its own delta: the patched file is checked
    /// against the content hash and the file is then taken whole. For the same reason the strong
    /// sums are MD4 (as rsync's were) rather than librsync's default BLAKE2: a quarter less time
    /// for a signature and for a delta against it (`rdiff` on 1 GiB here: 2.09 -> 1.52 s and
    /// 2.14 -> 1.58 s); a chance match is as unlikely at the length chosen, and a forged one
    /// fails the content hash. The weak sums stay RabinKarp. A delta is made against whatever
    /// kind of signature the peer sends.
    ///
    /// Blocks that lie wholly in a hole of a sparse file are not read: each has the sums of a
    /// block of zeros, computed once. The rest, when it holds `splitFrom` bytes or more, is read in
    /// `threads` ranges at once, each a whole number of blocks; their signatures, headers but the
    /// first dropped, are the file's, byte for byte.
    public static func signature(of basis: String, to signaturePath: String,
                                 threads: Int = Delta.threads, splitFrom: Int64 = Delta.splitFrom,
                                 strongSums: StrongSums = .md4) throws {
        let fd = try openFD(basis)
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DeltaError(operation: "stat", path: basis, message: String(cString: strerror(errno))) }
        let size = Int64(st.st_size)
        var magic = strongSums == .md4 ? RS_RK_MD4_SIG_MAGIC : RS_RK_BLAKE2_SIG_MAGIC
        var blockLen = 0, strongLen = -1
        try check(rs_sig_args(rs_long_t(size), &magic, &blockLen, &strongLen), "signature args", basis)
        let unit = Int64(blockLen)
        let segments = layout(fd, size: size, unit: unit)
        // The data, in whole blocks, spread over the threads.
        let data = segments.filter { !$0.hole }.map(\.range)
        let total = data.reduce(Int64(0)) { $0 + Int64($1.count) }
        let chunk = total >= splitFrom && threads > 1 ? ((total + Int64(threads) - 1) / Int64(threads) + unit - 1) / unit * unit : total
        var jobs: [Range<Int64>] = []
        for r in data {
            var at = r.lowerBound
            repeat {
                let end = r.upperBound - at <= chunk ? r.upperBound : at + chunk
                jobs.append(at..<end)
                at = end
            } while at < r.upperBound
        }
        let parts = try concurrently(jobs.count) { [blockLen, strongLen, magic, jobs] k in
            try run(rs_sig_begin(blockLen, strongLen, magic), fd: fd, range: jobs[k], what: basis, step: "signature")
        }
        // The sums of every block in a hole: those of one block of zeros.
        let zeros = segments.contains { $0.hole }
            ? try run(rs_sig_begin(blockLen, strongLen, magic), zeros: blockLen, what: basis) : parts[0]
        let header = parts[0].prefix(headerBytes)
        guard (parts + [zeros]).allSatisfy({ $0.prefix(headerBytes).elementsEqual(header) }) else {
            throw DeltaError(operation: "signature", path: basis, message: "parts disagree on the header")
        }
        let zeroBlock = zeros.dropFirst(headerBytes)
        let output = try open(signaturePath, "wb")
        defer { fclose(output) }
        func put(_ bytes: ArraySlice<UInt8>) throws {
            guard bytes.withUnsafeBytes({ fwrite($0.baseAddress, 1, $0.count, output) }) == bytes.count else {
                throw DeltaError(operation: "write", path: signaturePath, message: String(cString: strerror(errno)))
            }
        }
        try put(header)
        var next = 0
        for segment in segments {
            if segment.hole {
                for _ in 0..<(Int64(segment.range.count) / unit) { try put(zeroBlock) }
                continue
            }
            var at = segment.range.lowerBound
            while at < segment.range.upperBound {
                try put(parts[next].dropFirst(headerBytes))
                at = jobs[next].upperBound
                next += 1
            }
        }
        try flush(output, signaturePath)
    }

    /// Writes the delta that turns the signature's file into `newFile` to `deltaPath`.
    ///
    /// Blocks of `newFile` that lie wholly in a hole are not read: they are copied from blocks of
    /// zeros of the signature's file (the sums of a block of zeros tell them), one command for a
    /// run of them, so that a hole over the basis's own hole is one command, not one a block. The
    /// data between holes is librsync's delta of that range (a match across a hole's edge is not
    /// looked for). Where the signature's file has no block of zeros, the holes are read as data.
    /// A signature whose block length is above `maxBlockLength` is refused (librsync would hold
    /// that much of the new file at once).
    public static func delta(signature signaturePath: String, newFile: String, to deltaPath: String) throws {
        let sigFile = try open(signaturePath, "rb")
        defer { fclose(sigFile) }
        var header = [UInt8](repeating: 0, count: headerBytes)
        if fread(&header, 1, headerBytes, sigFile) == headerBytes {
            let blockLength = header[4..<8].reduce(0) { $0 << 8 | Int($1) }
            guard blockLength <= maxBlockLength else {
                throw DeltaError(operation: "load signature", path: signaturePath,
                                 message: "block length \(blockLength) is above the limit of \(maxBlockLength)")
            }
        }
        rewind(sigFile)
        var sig: OpaquePointer?
        try check(rs_loadsig_file(sigFile, &sig, nil), "load signature", signaturePath)
        defer { rs_free_sumset(sig) }
        try check(rs_build_hash_table(sig), "index signature", signaturePath)
        let fd = try openFD(newFile)
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DeltaError(operation: "stat", path: newFile, message: String(cString: strerror(errno))) }
        let size = Int64(st.st_size)
        let zeros = ZeroBlocks(signature: signaturePath)
        var segments = zeros.map { layout(fd, size: size, unit: Int64($0.blockLength)) } ?? []
        if !segments.contains(where: { $0.hole }) { segments = [(0..<size, false)] }
        let output = try open(deltaPath, "wb")
        defer { fclose(output) }
        func put(_ bytes: UnsafeRawBufferPointer) throws {
            guard fwrite(bytes.baseAddress, 1, bytes.count, output) == bytes.count else {
                throw DeltaError(operation: "write", path: deltaPath, message: String(cString: strerror(errno)))
            }
        }
        try deltaMagic.withUnsafeBytes { try put($0) }
        for segment in segments {
            if segment.hole, let zeros {
                try zeros.copies(for: segment.range).withUnsafeBytes { try put($0) }
                continue
            }
            // librsync's delta of the range, without its magic and its END command.
            var skip = deltaMagic.count
            var held: UInt8?
            try run(rs_delta_begin(sig), fd: fd, range: segment.range, what: newFile, step: "delta") { piece in
                guard piece.count > skip else { skip -= piece.count; return }
                let body = UnsafeRawBufferPointer(rebasing: piece[skip...])
                skip = 0
                if let h = held { try [h].withUnsafeBytes { try put($0) } }
                try put(UnsafeRawBufferPointer(rebasing: body.dropLast()))
                held = body.last
            }
            guard held == 0 else { throw DeltaError(operation: "delta", path: newFile, message: "librsync's delta did not end as expected") }
        }
        try [UInt8(0)].withUnsafeBytes { try put($0) } // END
        try flush(output, deltaPath)
    }

    /// The largest block length a signature may have: the square root of 256 TiB (librsync's
    /// rule gives a file the square root of its size).
    public static let maxBlockLength = 16 << 20

    /// A delta's magic number (RS_DELTA_MAGIC), big-endian.
    static let deltaMagic: [UInt8] = [0x72, 0x73, 0x02, 0x36]

    /// Which blocks of a signature's file hold only zeros (their sums are those of a block of
    /// zeros), and the delta commands that make a hole of the new file from them.
    struct ZeroBlocks {
        let blockLength: Int
        /// For each block of the signature's file, whether it is a block of zeros.
        let zero: [Bool]
        /// The longest run of zero blocks: where it starts and how many blocks.
        let longest: (start: Int, count: Int)

        /// Nil when the signature cannot be read as librsync's (header, then a weak sum and a
        /// strong sum a block) or has no block of zeros. A peer's signature: every length checked.
        init?(signature path: String) {
            guard let data = FileManager.default.contents(atPath: path), data.count >= headerBytes else { return nil }
            let bytes = [UInt8](data)
            func word(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
            let blockLength = word(4), strongLength = word(8)
            guard blockLength > 0, blockLength <= maxBlockLength, (1...64).contains(strongLength) else { return nil }
            let each = 4 + strongLength
            guard (bytes.count - headerBytes) % each == 0 else { return nil }
            let magic = rs_magic_number(rawValue: UInt32(word(0)))
            guard let sums = try? Delta.run(rs_sig_begin(blockLength, strongLength, magic), zeros: blockLength, what: path),
                  sums.count == headerBytes + each, sums.prefix(headerBytes).elementsEqual(bytes.prefix(headerBytes)) else { return nil }
            let block = sums.suffix(each)
            var zero: [Bool] = []
            zero.reserveCapacity((bytes.count - headerBytes) / each)
            var longest = (start: 0, count: 0), run = 0
            for at in stride(from: headerBytes, to: bytes.count, by: each) {
                let z = bytes[at..<(at + each)].elementsEqual(block)
                run = z ? run + 1 : 0
                if run > longest.count { longest = (zero.count + 1 - run, run) }
                zero.append(z)
            }
            guard longest.count > 0 else { return nil }
            self.blockLength = blockLength
            self.zero = zero
            self.longest = longest
        }

        /// COPY commands that make `range` (whole blocks) of zeros: from the same blocks of the
        /// signature's file where those are zeros, else from its longest run of zero blocks.
        func copies(for range: Range<Int64>) -> [UInt8] {
            let unit = Int64(blockLength)
            var out: [UInt8] = []
            var i = range.lowerBound / unit
            let end = range.upperBound / unit
            func isZero(_ k: Int64) -> Bool { k < zero.count && zero[Int(k)] }
            while i < end {
                var j = i
                if isZero(i) {
                    while j < end && isZero(j) { j += 1 }
                    out += Delta.copyCommand(i * unit, (j - i) * unit)
                } else {
                    while j < end && j - i < Int64(longest.count) && !isZero(j) { j += 1 }
                    out += Delta.copyCommand(Int64(longest.start) * unit, (j - i) * unit)
                }
                i = j
            }
            return out
        }
    }

    /// librsync's COPY command: an opcode for the widths of its two numbers (1, 2, 4 or 8
    /// bytes each), then the position and the length, big-endian.
    static func copyCommand(_ position: Int64, _ length: Int64) -> [UInt8] {
        func width(_ v: Int64) -> Int { v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffff_ffff ? 4 : 8 }
        let widths = [1: 0, 2: 1, 4: 2, 8: 3]
        let p = width(position), l = width(length)
        var out: [UInt8] = [UInt8(0x45 + 4 * widths[p]! + widths[l]!)]
        for (v, w) in [(position, p), (length, l)] {
            for k in stride(from: w - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: v >> (8 * k))) }
        }
        return out
    }

    /// The strong sums of a signature: MD4 (ours), or BLAKE2 (librsync's default, which earlier
    /// versions sent: a delta is made against either).
    public enum StrongSums: Sendable { case md4, blake2 }

    /// How many threads a big file's signature is computed on.
    public static let threads = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
    /// A signature of this much data or more is split among the threads.
    public static let splitFrom: Int64 = 64 << 20
    /// A signature's header: magic, block length, strong sum length (4 bytes each, big-endian).
    static let headerBytes = 12

    /// `0..<size` as block-aligned ranges in order, each data (read) or a hole (blocks wholly
    /// within a hole, as SEEK_DATA and SEEK_HOLE tell; where they are not known the whole file is
    /// data). The last block, short or not, is always data; an empty file is one empty data range.
    static func layout(_ fd: Int32, size: Int64, unit: Int64) -> [(range: Range<Int64>, hole: Bool)] {
        guard size > 0 else { return [(0..<0, false)] }
        let seekData: Int32 = 3, seekHole: Int32 = 4 // Linux's SEEK_DATA and SEEK_HOLE
        let lastBlock = (size - 1) / unit * unit
        var out: [(range: Range<Int64>, hole: Bool)] = []
        func add(_ r: Range<Int64>, hole: Bool) {
            guard !r.isEmpty else { return }
            if let last = out.last, last.hole == hole, last.range.upperBound == r.lowerBound {
                out[out.count - 1].range = last.range.lowerBound..<r.upperBound
            } else {
                out.append((r, hole))
            }
        }
        var at: Int64 = 0 // block-aligned: what lies before it is in `out`
        while at < lastBlock {
            let data = Int64(lseek(fd, off_t(at), seekData))
            guard data >= 0 else {
                if errno == ENXIO { break } // no data after `at`: a hole to the end
                return [(0..<size, false)]
            }
            // Blocks wholly before the data are a hole; the data runs to the next hole.
            let dataStart = min(data / unit * unit, lastBlock)
            add(at..<dataStart, hole: true)
            let holeAt = Int64(lseek(fd, off_t(data), seekHole))
            guard holeAt >= 0 else { return [(0..<size, false)] }
            let dataEnd = min((holeAt + unit - 1) / unit * unit, lastBlock)
            add(dataStart..<max(dataStart, dataEnd), hole: false)
            at = max(dataEnd, dataStart)
            if dataEnd <= dataStart { break }
        }
        add(at..<lastBlock, hole: true)
        add(lastBlock..<size, hole: false)
        return out
    }

    /// Runs librsync job `job` over `range` of `fd` (read with pread, so that several jobs share the
    /// descriptor); returns what it wrote.
    private static func run(_ job: OpaquePointer?, fd: Int32, range: Range<Int64>, what path: String, step: String) throws -> [UInt8] {
        var kept: [UInt8] = []
        try run(job, fd: fd, range: range, what: path, step: step) { kept += $0 }
        return kept
    }

    /// Runs librsync job `job` over `range` of `fd`, handing what it writes to `emit` as it comes.
    private static func run(_ job: OpaquePointer?, fd: Int32, range: Range<Int64>, what path: String, step: String,
                            emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var at = range.lowerBound
        try run(job, what: path, step: step, emit: emit) { buffer, capacity in
            guard at < range.upperBound else { return 0 }
            while true {
                let n = pread(fd, buffer, Int(min(Int64(capacity), range.upperBound - at)), off_t(at))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw DeltaError(operation: "read", path: path, message: n == 0 ? "the file shrank as it was read" : String(cString: strerror(errno)))
                }
                at += Int64(n)
                return n
            }
        }
    }

    /// Runs librsync signature job `job` over one block of `count` zeros; returns what it wrote.
    private static func run(_ job: OpaquePointer?, zeros count: Int, what path: String) throws -> [UInt8] {
        var left = count
        var kept: [UInt8] = []
        try run(job, what: path, step: "signature", emit: { kept += $0 }) { buffer, capacity in
            let n = min(left, capacity)
            buffer.update(repeating: 0, count: n)
            left -= n
            return n
        }
        return kept
    }

    /// Runs librsync job `job` over what `fill` puts in its input buffer (the bytes put, 0 at the
    /// end), handing what the job writes to `emit` as it comes. The one loop of every job: a
    /// signature, a delta and a patch.
    private static func run(_ job: OpaquePointer?, what path: String, step: String, emit: (UnsafeRawBufferPointer) throws -> Void,
                            fill: (UnsafeMutablePointer<CChar>, Int) throws -> Int) throws {
        guard let job else { throw DeltaError(operation: step, path: path, message: "librsync could not start") }
        defer { rs_job_free(job) }
        let inSize = 1 << 20, outSize = 1 << 20
        let input = UnsafeMutablePointer<CChar>.allocate(capacity: inSize)
        let output = UnsafeMutablePointer<CChar>.allocate(capacity: outSize)
        defer { input.deallocate(); output.deallocate() }
        var buffers = rs_buffers_t()
        while true {
            if buffers.avail_in == 0 && buffers.eof_in == 0 {
                let n = try fill(input, inSize)
                buffers.next_in = input
                buffers.avail_in = n
                if n == 0 { buffers.eof_in = 1 }
            }
            buffers.next_out = output
            buffers.avail_out = outSize
            let r = rs_job_iter(job, &buffers)
            let produced = outSize - buffers.avail_out
            if produced > 0 { try emit(UnsafeRawBufferPointer(start: output, count: produced)) }
            if r == RS_DONE { return }
            guard r == RS_BLOCKED else { try check(r, step, path); return }
            // All input given and nothing more comes of it: it ends too early (a cut delta).
            if buffers.eof_in != 0 && buffers.avail_in == 0 && produced == 0 {
                throw DeltaError(operation: step, path: path, message: "the input ends too early")
            }
        }
    }

    /// `body(k)` for k in 0..<n, on as many threads, results in order; the first error is thrown.
    private static func concurrently(_ n: Int, _ body: @escaping @Sendable (Int) throws -> [UInt8]) throws -> [[UInt8]] {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var values: [Result<[UInt8], any Error>?]
            init(_ n: Int) { values = Array(repeating: nil, count: n) }
        }
        let results = Results(n)
        if n == 1 {
            results.values[0] = Result { try body(0) }
        } else {
            // CPU work that waits on nothing: the dispatch pool's threads (and this one) suffice.
            DispatchQueue.concurrentPerform(iterations: n) { k in
                let r = Result { try body(k) }
                results.lock.lock()
                results.values[k] = r
                results.lock.unlock()
            }
        }
        return try results.values.map { try $0!.get() }
    }

    private static func openFD(_ path: String) throws -> Int32 {
        _ = quiet
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError(operation: "open", path: path, message: String(cString: strerror(errno))) }
        return fd
    }

    /// Rebuilds the new version from `basis` and `deltaPath` into `outputPath`.
    public static func patch(basis: String, delta deltaPath: String, to outputPath: String) throws {
        let output = try open(outputPath, "wb")
        defer { fclose(output) }
        try patch(basis: basis, delta: deltaPath) { piece in
            guard fwrite(piece.baseAddress, 1, piece.count, output) == piece.count else {
                throw DeltaError(operation: "write", path: outputPath, message: String(cString: strerror(errno)))
            }
        }
        try flush(output, outputPath)
    }

    /// Rebuilds the new version from `basis` and `deltaPath`, handing it to `write` a piece at a
    /// time as it comes (the caller hashes it and writes it as it likes: no second read of it).
    /// What the delta copies from a hole of a sparse basis is not read: it is zeros.
    public static func patch(basis: String, delta deltaPath: String,
                             write: (UnsafeRawBufferPointer) throws -> Void) throws {
        let base = try Basis(basis)
        let delta = try open(deltaPath, "rb")
        defer { fclose(delta) }
        let copy: @convention(c) (UnsafeMutableRawPointer?, rs_long_t, UnsafeMutablePointer<Int>?,
                                  UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> rs_result = { opaque, pos, len, buf in
            Unmanaged<Basis>.fromOpaque(opaque!).takeUnretainedValue().copy(pos, len!, buf!)
        }
        // The basis outlives the job that calls back into it.
        try withExtendedLifetime(base) {
            do {
                try run(rs_patch_begin(copy, Unmanaged.passUnretained(base).toOpaque()), what: deltaPath, step: "patch",
                        emit: write) { buffer, capacity in
                    let n = fread(buffer, 1, capacity, delta)
                    guard n == capacity || ferror(delta) == 0 else {
                        throw DeltaError(operation: "read", path: deltaPath, message: String(cString: strerror(errno)))
                    }
                    return n
                }
            } catch {
                // A basis that could not be read is the reason, not librsync's code for it.
                throw base.failure ?? error
            }
        }
    }

    /// The basis of a patch, read at the positions the delta copies from; the ranges of its
    /// holes (SEEK_DATA and SEEK_HOLE, found once) are given as zeros without reading them.
    final class Basis {
        let path: String
        let fd: Int32
        let size: Int64
        /// Its holes, in order.
        let holes: [Range<Int64>]
        /// What a copy from a hole is given (never written to).
        private let zeros: UnsafeMutableRawPointer
        static let zerosSize = 1 << 20
        /// Why a read failed, for the patch to throw.
        private(set) var failure: DeltaError?

        init(_ path: String) throws {
            self.path = path
            fd = try openFD(path)
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                Glibc.close(fd)
                throw DeltaError(operation: "stat", path: path, message: String(cString: strerror(errno)))
            }
            size = Int64(st.st_size)
            holes = layout(fd, size: size, unit: 1).filter(\.hole).map(\.range)
            zeros = UnsafeMutableRawPointer.allocate(byteCount: Self.zerosSize, alignment: 16)
            zeros.initializeMemory(as: UInt8.self, repeating: 0, count: Self.zerosSize)
        }

        deinit {
            Glibc.close(fd)
            zeros.deallocate()
        }

        /// librsync's copy callback: up to `len` bytes from `pos`, read into `buf` or given as zeros.
        func copy(_ pos: rs_long_t, _ len: UnsafeMutablePointer<Int>, _ buf: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> rs_result {
            let at = Int64(pos)
            guard at >= 0, at < size, len.pointee > 0 else { return RS_INPUT_ENDED }
            var want = min(Int64(len.pointee), size - at)
            // The first hole that ends after `at`: `at` is in it, or it bounds the read.
            var lo = 0, hi = holes.count
            while lo < hi { let mid = (lo + hi) / 2; if holes[mid].upperBound <= at { lo = mid + 1 } else { hi = mid } }
            if lo < holes.count {
                let hole = holes[lo]
                if hole.contains(at) {
                    len.pointee = Int(min(want, hole.upperBound - at, Int64(Self.zerosSize)))
                    buf.pointee = zeros
                    return RS_DONE
                }
                want = min(want, hole.lowerBound - at)
            }
            while true {
                let n = pread(fd, buf.pointee, Int(want), off_t(at))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    failure = DeltaError(operation: "read", path: path, message: n == 0 ? "the basis shrank as it was read" : String(cString: strerror(errno)))
                    return n == 0 ? RS_INPUT_ENDED : RS_IO_ERROR
                }
                len.pointee = n
                return RS_DONE
            }
        }
    }

    private static func open(_ path: String, _ mode: String) throws -> UnsafeMutablePointer<FILE> {
        _ = quiet
        guard let f = fopen(path, mode) else {
            throw DeltaError(operation: "open", path: path, message: String(cString: strerror(errno)))
        }
        return f
    }

    private static func flush(_ f: UnsafeMutablePointer<FILE>, _ path: String) throws {
        guard fflush(f) == 0, fsync(fileno(f)) == 0 else {
            throw DeltaError(operation: "write", path: path, message: String(cString: strerror(errno)))
        }
    }

    private static func check(_ r: rs_result, _ op: String, _ path: String) throws {
        guard r != RS_DONE else { return }
        throw DeltaError(operation: op, path: path, message: String(cString: rs_strerror(r)))
    }
}
