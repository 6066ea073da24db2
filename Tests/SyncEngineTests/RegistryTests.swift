import Foundation
import Testing
@testable import SyncCore
@testable import SyncGit
@testable import SyncEngine

@Suite struct RegistryTests {
    @Test func refusesBadFoldersAndWritesNothing() throws {
        let f = try Fixture()
        let before = try FileManager.default.contentsOfDirectory(atPath: f.state.foldersPath)
        try Data().write(to: URL(fileURLWithPath: f.base + "/plain"))
        try FileManager.default.createDirectory(atPath: f.root + "/inner", withIntermediateDirectories: true)
        let bad = [f.base + "/missing", f.base + "/plain", f.root, f.root + "/inner", f.base,
                   f.state.root, f.state.foldersPath]
        for path in bad {
            #expect(throws: SyncError.self, "\(path)") { try Registry.initFolder(at: path, state: f.state) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.state.foldersPath) == before)
    }

    @Test func findsFoldersByIdPathAndName() throws {
        let f = try Fixture()
        let id = f.context.folder.id.rawValue
        #expect(try f.state.folder(id).id.rawValue == id)
        #expect(try f.state.folder(f.root).id.rawValue == id)
        #expect(try f.state.folder("f").id.rawValue == id)
        #expect(throws: SyncError.self) { try f.state.folder("nope") }
    }
}
