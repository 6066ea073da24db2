import CSSH2

/// libssh2 as a whole: its one-time initialization and its version. Sessions come with the
/// two-node work; this module already owns the library so no other module touches its pointers.
public enum SSHLibrary {
    /// Initializes libssh2 once per process; true when it is ready.
    public static let ready: Bool = libssh2_init(0) == 0

    /// The version of the libssh2 the process runs with.
    public static var version: String {
        guard ready, let v = libssh2_version(0) else { return "unknown" }
        return String(cString: v)
    }

    /// Whether the libssh2 build can use ed25519 keys, which node identities are.
    static var supportsEd25519: Bool {
        guard ready, let session = libssh2_session_init_ex(nil, nil, nil, nil) else { return false }
        defer { libssh2_session_free(session) }
        var methods: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        let n = libssh2_session_supported_algs(session, LIBSSH2_METHOD_HOSTKEY, &methods)
        guard n > 0, let list = methods else { return false }
        defer { libssh2_free(session, list) }
        return (0..<Int(n)).contains { list[$0].map { String(cString: $0) } == "ssh-ed25519" }
    }
}
