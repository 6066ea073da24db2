import CGit2

/// A failed libgit2 call: what we were doing, and libgit2's own message.
public struct GitError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let message: String
    public let code: Int32
    public var description: String { "\(operation): \(message)" }

    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }

    static func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws {
        guard rc < 0 else { return }
        var msg = "error \(rc)"
        if let e = git_error_last(), let m = e.pointee.message { msg = String(cString: m) }
        throw GitError(operation: operation(), message: msg, code: rc)
    }
}

enum Libgit2 {
    /// libgit2 wants one global init before any use; Swift runs a static initializer once.
    static let initialized: Bool = {
        git_libgit2_init()
        _ = sync_git_isolate_configuration()
        _ = sync_git_limit_mapped(8 << 20, 32 << 20)
        _ = sync_git_fsync_gitdir(1) // history written is on disk before we say so
        return true
    }()
}
