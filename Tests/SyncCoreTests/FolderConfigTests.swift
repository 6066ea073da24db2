import Foundation
import Testing
@testable import SyncCore

@Suite struct FolderConfigTests {
    @Test func setsChecksAndRoundTrips() throws {
        var c = FolderConfig(path: "/data")
        try c.set("debounce.quiet", "500ms")
        try c.add("ignore", "*.tmp")
        try c.add("ignore", "build/")
        #expect(c.quietPeriod == 0.5)
        #expect(c.ignorePatterns == ["*.tmp", "build/"])
        let back = try FolderConfig(parsing: c.text, file: "config")
        #expect(back == c)
        #expect(throws: SyncError.invalidConfigKey("nope")) { try c.set("nope", "1") }
        #expect(throws: SyncError.readOnlyConfigKey("path")) { try c.set("path", "/x") }
        #expect(throws: SyncError.self) { try c.set("history.max-blob", "huge") }
        try c.unset("ignore", value: "*.tmp")
        #expect(c.ignorePatterns == ["build/"])
        #expect(c.maxBlob == 16 << 20)
    }
}
