import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

/// What a process killed while it wrote the history leaves must not stop the next writer.
@Suite struct KilledWriterTests {
    /// A kill -9 in the middle of libgit2's ref update leaves `refs/heads/main.lock` (seen in the
    /// randomized run with faults, seed 4 at 1,000 operations: every later commit and pull of that
    /// node failed with "failed to lock file").
    @Test func aLockFileLeftInTheHistoryDoesNotStopTheNextCommit() throws {
        let f = try Fixture()
        try f.write("a.txt", "one")
        #expect(try f.commit() != nil)
        let history = f.context.folder.historyPath
        for name in ["refs/heads/main.lock", "HEAD.lock", "packed-refs.lock"] {
            _ = FileManager.default.createFile(atPath: history + "/" + name, contents: Data())
        }
        try f.write("a.txt", "two")
        #expect(try f.commit() != nil)
        for name in ["refs/heads/main.lock", "HEAD.lock", "packed-refs.lock"] {
            #expect(!FileManager.default.fileExists(atPath: history + "/" + name))
        }
        let h = try f.context.history
        #expect(try String(decoding: h.blob(h.entry(inCommit: h.resolve("main"), path: "a.txt")!.id), as: UTF8.self) == "two")
    }
}
