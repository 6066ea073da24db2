import Foundation
import Testing
@testable import SyncSSH

/// What an invite learns of this machine's sshd from its configuration: the port and host keys,
/// through Debian's drop-in directory too, and nothing from a Match block.
@Suite struct SSHDConfigTests {
    @Test func portAndHostKeysComeFromTheFileAndItsIncludes() throws {
        let dir = NSTemporaryDirectory() + "/sshd-config-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/conf.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "Port 2222\nHostKey /k/ssh_host_ed25519_key\n".write(toFile: dir + "/conf.d/10-port.conf", atomically: true, encoding: .utf8)
        try "Port 3333\n".write(toFile: dir + "/conf.d/20-later.conf", atomically: true, encoding: .utf8)
        let main = """
            # Debian's default starts with its drop-ins
            Include \(dir)/conf.d/*.conf
            HostKey /etc/ssh/ssh_host_rsa_key
            Match User guest
                Port 4444
                HostKey /never
            """
        let c = SSHDConfig(text: main) { try? String(contentsOfFile: $0, encoding: .utf8) }
        #expect(c.port == 2222) // the first one wins, as in sshd
        #expect(c.hostKeys == ["/k/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"])
        #expect(c.publicHostKey == "/k/ssh_host_ed25519_key.pub")
        #expect(SSHDConfig(text: "#Port 22\nHostKey /etc/ssh/ssh_host_rsa_key\n").publicHostKey == "/etc/ssh/ssh_host_rsa_key.pub")
        #expect(SSHDConfig(text: "").port == nil && SSHDConfig(text: "").publicHostKey == "/etc/ssh/ssh_host_ed25519_key.pub")
        #expect(SSHDConfig(text: "Port 99999\nPort=2200\n").port == 2200)
    }
}
