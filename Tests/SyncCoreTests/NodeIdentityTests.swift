import Foundation
import Testing
@testable import SyncCore

@Suite struct NodeIdentityTests {
    @Test func createsAnOpenSSHKeyPairOnce() throws {
        let dir = try TemporaryDirectory()
        let id1 = try NodeIdentity.loadOrCreate(in: dir.path + "/node")
        let id2 = try NodeIdentity.loadOrCreate(in: dir.path + "/node")
        #expect(id1.id == id2.id)
        #expect(id1.publicKeyLine.hasPrefix("ssh-ed25519 AAAA"))
        var st = stat()
        stat(id1.privateKeyPath, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        // OpenSSH itself reads the private key and derives the same public key and fingerprint.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen") {
            let derived = try run("/usr/bin/ssh-keygen", ["-y", "-f", id1.privateKeyPath])
            #expect(derived.split(separator: " ").prefix(2) == id1.publicKeyLine.split(separator: " ").prefix(2))
            let fp = try run("/usr/bin/ssh-keygen", ["-l", "-f", id1.publicKeyPath])
            #expect(fp.contains(id1.fingerprint))
        }
    }

    func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
