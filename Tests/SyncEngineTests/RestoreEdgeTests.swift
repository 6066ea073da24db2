import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncProtocol
@testable import SyncEngine

/// Restore with large files kept as pointers, the deletion guard undone by a restore, and a paused
/// folder that takes nothing from a peer.
@Suite struct RestoreEdgeTests {
    /// A fixture whose history keeps files above 100 bytes as pointers.
    func fixture(_ settings: [(String, String)] = [("history.max-blob", "100")]) throws -> (Fixture, FolderContext) {
        let f = try Fixture()
        var folder = f.context.folder
        for (k, v) in settings { try folder.config.set(k, v) }
        try folder.saveConfig()
        return (f, try FolderContext(try f.state.folder(folder.id.rawValue), state: f.state))
    }

    func read(_ f: Fixture, _ path: String) -> String? {
        FileManager.default.contents(atPath: f.root + "/" + path).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func aDirectoryWithLargeFilesComesBackUnchangedOrFromTheVersionStore() throws {
        let (f, context) = try fixture()
        let big = String(repeating: "large, unchanged since. ", count: 20), old = String(repeating: "large v1 ", count: 30)
        try f.write("d/same.bin", big)
        try f.write("d/changed.bin", old)
        try f.write("d/small.txt", "small v1\n")
        let c1 = try #require(try Committer(context).commit()?.commit)
        // The old large version is kept in the version store, as a pull that replaces it keeps it.
        let store = context.folder.directory + "/versions"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let oldID = HistoryRepository.hash(Array(old.utf8)).hex
        try FileManager.default.copyItem(atPath: f.root + "/d/changed.bin", toPath: store + "/" + oldID)
        try f.write("d/changed.bin", String(repeating: "large v2 ", count: 30))
        try f.write("d/small.txt", "small v2\n")
        _ = try Committer(context).commit()
        let versions = try HistoryQueries(context).versions(of: RelativePath("d/changed.bin"))
        #expect(versions.map(\.kept) == ["versions", "versions"])
        #expect(versions.allSatisfy { $0.recoverable })

        // sync show of the old version writes it to a pipe, checked as it goes.
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let old1 = try #require(try HistoryQueries(context).entry(c1, path: RelativePath("d/changed.bin")))
        try HistoryQueries(context).write(blob: old1.id, path: RelativePath("d/changed.bin"), to: fds[1])
        close(fds[1])
        var shown = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(fds[0], &shown, shown.count)
        close(fds[0])
        #expect(String(decoding: shown.prefix(max(n, 0)), as: UTF8.self) == old)

        _ = try Restorer(context).restore(try RelativePath("d"), at: c1)
        #expect(read(f, "d/same.bin") == big)
        #expect(read(f, "d/changed.bin") == old)
        #expect(read(f, "d/small.txt") == "small v1\n")
        // The whole folder, back to where it is now: the large files come from the store and the folder.
        _ = try Restorer(context).restore(nil, at: c1)
        #expect(read(f, "d/changed.bin") == old)
    }

    @Test func aDirectoryWhoseLargeVersionIsGoneIsLeftUntouchedAndTheErrorNamesTheFile() throws {
        let (f, context) = try fixture()
        let old = String(repeating: "large v1 ", count: 30)
        try f.write("d/changed.bin", old)
        try f.write("d/small.txt", "small v1\n")
        let c1 = try #require(try Committer(context).commit()?.commit)
        let now = String(repeating: "large v2 ", count: 30)
        try f.write("d/changed.bin", now)
        try f.write("d/small.txt", "small v2\n")
        _ = try Committer(context).commit()
        let versions = try HistoryQueries(context).versions(of: RelativePath("d/changed.bin"))
        #expect(versions.map(\.kept) == ["versions", "pointer"])
        #expect(versions.map(\.recoverable) == [true, false])
        #expect {
            try Restorer(context).restore(try RelativePath("d"), at: c1)
        } throws: { e in
            (e as? SyncError)?.description.contains(f.root + "/d/changed.bin") == true
        }
        // Nothing of the directory changed: all or nothing.
        #expect(read(f, "d/changed.bin") == now)
        #expect(read(f, "d/small.txt") == "small v2\n")
    }

    @Test func restoringWhatAHeldDeletionRemovedReleasesTheHold() throws {
        let (f, context) = try fixture([("guard.min-deletions", "10")])
        for i in 0..<30 { try f.write("docs/f\(i).txt", "file \(i)\n") }
        try f.write("keep.txt", "keep\n")
        let before = try #require(try Committer(context).commit()?.commit)
        try FileManager.default.removeItem(atPath: f.root + "/docs")
        let held = try Committer(context).commit()
        #expect(held?.held != nil)
        #expect(try context.index.heldFrom() != nil)
        #expect(try FolderStatus(context).heldStillDeleted == 30)
        // Half back: still held, and status says how many are still gone.
        _ = try Restorer(context).restore(try RelativePath("docs/f1.txt"), at: before)
        #expect(try context.index.heldFrom() != nil)
        #expect(try FolderStatus(context).heldStillDeleted == 29)
        _ = try Restorer(context).restore(try RelativePath("docs"), at: before)
        #expect(try context.index.heldFrom() == nil)
        #expect(try context.index.servedSequence() == context.index.sequence())
        // Later edits leave at once.
        try f.write("keep.txt", "edited\n")
        _ = try Committer(context).commit()
        #expect(try context.index.servedSequence() == context.index.sequence())
    }

    @Test func aPausedFolderTakesNothingFromAPeerAndServesNothingNew() throws {
        let (f, _) = try fixture([("paused", "true")])
        let text = Array("from the peer\n".utf8)
        let result = try HostilePeerTests().pull(f) { h in
            h.entries = [HostilePeer.entry("x.txt", text, seq: 1)]
            h.contents = ["x.txt": text]
        }
        guard case .failure(let e) = result else { Issue.record("a paused folder took a pull"); return }
        #expect(e as? SyncError == .folderPaused(f.context.folder.id.rawValue))
        #expect(!FileManager.default.fileExists(atPath: f.root + "/x.txt"))
        // Served: nothing past where the peer stands.
        try f.write("local.txt", "here\n")
        var folder = f.context.folder
        try folder.config.set("paused", "false"); try folder.saveConfig()
        _ = try f.commit()
        try folder.config.set("paused", "true"); try folder.saveConfig()
        let peer = try NodeIdentity.loadOrCreate(in: f.base + "/p")
        try FolderAccess.allow(PeerKey(rawKey: peer.rawPublicKey), for: folder)
        var answer: [Message] = []
        _ = try PeerBudgetTests().serve(f, peer.id, identity: peer) { s in
            let id = s.newRequestID()
            try s.send(.indexRequest(id: id, folder: folder.id.rawValue, since: 0, limit: 100))
            answer.append(try s.next(for: id))
        }
        guard case .indexEnd(_, _, 0, false) = answer.first else { Issue.record("\(answer)"); return }
    }
}
