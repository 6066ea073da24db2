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
        let base = try open(basis, "rb")
        defer { fclose(base) }
        let delta = try open(deltaPath, "rb")
        defer { fclose(delta) }
        let output = try open(outputPath, "wb")
        defer { fclose(output) }
        try check(rs_patch_file(base, delta, output, nil), "patch", deltaPath)
        try flush(output, outputPath)
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
