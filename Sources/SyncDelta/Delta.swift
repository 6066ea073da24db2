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
    /// against the content hash and the file is then taken whole.
    public static func signature(of basis: String, to signaturePath: String) throws {
        let input = try open(basis, "rb")
        defer { fclose(input) }
        let output = try open(signaturePath, "wb")
        defer { fclose(output) }
        var magic = rs_magic_number(rawValue: 0)
        var blockLen = 0, strongLen = -1
        var st = stat()
        let size: Int64 = stat(basis, &st) == 0 ? Int64(st.st_size) : -1
        try check(rs_sig_args(rs_long_t(size), &magic, &blockLen, &strongLen), "signature args", basis)
        try check(rs_sig_file(input, output, blockLen, strongLen, magic, nil), "signature", basis)
        try flush(output, signaturePath)
    }

    /// Writes the delta that turns the signature's file into `newFile` to `deltaPath`.
    public static func delta(signature signaturePath: String, newFile: String, to deltaPath: String) throws {
        let sigFile = try open(signaturePath, "rb")
        defer { fclose(sigFile) }
        var sig: OpaquePointer?
        try check(rs_loadsig_file(sigFile, &sig, nil), "load signature", signaturePath)
        defer { rs_free_sumset(sig) }
        try check(rs_build_hash_table(sig), "index signature", signaturePath)
        let input = try open(newFile, "rb")
        defer { fclose(input) }
        let output = try open(deltaPath, "wb")
        defer { fclose(output) }
        try check(rs_delta_file(sig, input, output, nil), "delta", newFile)
        try flush(output, deltaPath)
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
    public static func patch(basis: String, delta deltaPath: String,
                             write: (UnsafeRawBufferPointer) throws -> Void) throws {
        let base = try open(basis, "rb")
        defer { fclose(base) }
        let delta = try open(deltaPath, "rb")
        defer { fclose(delta) }
        guard let job = rs_patch_begin(rs_file_copy_cb, base) else {
            throw DeltaError(operation: "patch", path: deltaPath, message: "librsync could not start")
        }
        defer { rs_job_free(job) }
        let inSize = 256 << 10, outSize = 1 << 20
        let input = UnsafeMutablePointer<CChar>.allocate(capacity: inSize)
        let output = UnsafeMutablePointer<CChar>.allocate(capacity: outSize)
        defer { input.deallocate(); output.deallocate() }
        var buffers = rs_buffers_t()
        var ended = false
        while true {
            if buffers.avail_in == 0 && !ended {
                let n = fread(input, 1, inSize, delta)
                if n < inSize {
                    guard ferror(delta) == 0 else {
                        throw DeltaError(operation: "read", path: deltaPath, message: String(cString: strerror(errno)))
                    }
                    ended = true
                }
                buffers.next_in = input
                buffers.avail_in = n
            }
            buffers.eof_in = ended ? 1 : 0
            buffers.next_out = output
            buffers.avail_out = outSize
            let r = rs_job_iter(job, &buffers)
            let produced = outSize - buffers.avail_out
            if produced > 0 { try write(UnsafeRawBufferPointer(start: output, count: produced)) }
            if r == RS_DONE { return }
            guard r == RS_BLOCKED else { try check(r, "patch", deltaPath); return }
            if ended && buffers.avail_in == 0 && produced == 0 {
                throw DeltaError(operation: "patch", path: deltaPath, message: "the delta ends too early")
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
