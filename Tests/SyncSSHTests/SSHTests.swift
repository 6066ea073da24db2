import Testing
@testable import SyncSSH

@Suite struct SSHLibraryTests {
    @Test func libssh2InitializesAndSpeaksEd25519() {
        #expect(SSHLibrary.ready)
        #expect(SSHLibrary.version.hasPrefix("1."))
        #expect(SSHLibrary.supportsEd25519)
    }
}
