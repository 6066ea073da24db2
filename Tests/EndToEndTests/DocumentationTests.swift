import Foundation
import Testing
@testable import SyncCommands

@Suite struct DocumentationTests {
    @Test func manPagesAndCompletionsAreCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let stale = DocGenerator.stale(root: root)
        #expect(stale.isEmpty, "stale or missing; run `swift run sync-docgen`: \(stale)")
        for (path, _) in DocGenerator.files() where path.hasPrefix("man/") {
            if have("man") {
                let r = try Node.shell("MANWIDTH=80 man -l '\(root)/\(path)' 2>&1 >/dev/null", environment: [:])
                #expect(r.stdout.isEmpty, "\(path): \(r.stdout)")
            }
        }
    }
}
