import Foundation
import Testing
@testable import SyncCore
@testable import SyncEngine

/// Names that Swift's strings compare equal but the file system keeps apart ("é" composed, and
/// "e" with a combining accent): two files, each synced, neither taken for the other.
@Suite struct CanonicalNamesTests {
    typealias Node = PullerPropertyTests.Node

    @Test func namesEqualAsCharactersButNotAsBytesAreTwoFiles() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-names-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try Node.pair(base)
        let composed = "caf\u{e9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed) // as Swift compares them
        #expect(try RelativePath(composed) != RelativePath(decomposed))
        #expect(Set([try RelativePath(composed), try RelativePath(decomposed)]).count == 2)
        for (i, name) in [composed, decomposed, "d\u{e9}/x", "de\u{301}/x"].enumerated() {
            let path = a.root + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: path, contents: Data("file \(i)\n".utf8)))
        }
        _ = try Committer(a.context).commit(paths: nil)
        let outcome = try PullerPropertyTests.pull(b, from: a) { $0.batchSize = 100 }
        #expect(!outcome.held, "\(outcome.problems)")
        for (i, name) in [composed, decomposed, "d\u{e9}/x", "de\u{301}/x"].enumerated() {
            #expect(FileManager.default.contents(atPath: b.root + "/" + name) == Data("file \(i)\n".utf8), "\(Array(name.utf8))")
            #expect(try b.context.index.entry(RelativePath(name))?.deleted == false, "\(Array(name.utf8))")
        }
    }
}
