import Foundation
import Testing
import SyncCore
@testable import SyncEngine

/// The rule that makes nodes converge, on values: no files, no processes.
@Suite struct ReconcileTests {
    let me = try! NodeID(String(repeating: "m", count: 52)), them = String(repeating: "t", count: 52)

    func row(_ path: String, _ hash: String, _ version: [String: UInt64], mtime: Int64 = 1_700_000_000_000_000_000) -> FileEntry {
        FileEntry(path: try! RelativePath(path), kind: .file, hash: hash, size: 1, mtimeNs: mtime, ctimeNs: 0, inode: 0,
                  executable: false, symlinkTarget: nil, deleted: false, version: VersionVector(version), sequence: 1)
    }

    @Test func newerIsTakenOlderOrEqualSkippedConcurrentIsAConflict() {
        let local = row("a.txt", "1111111", [me.rawValue: 1])
        #expect(Reconcile.decide(local: nil, remote: local, resolver: me) == .take(version: local.version))
        #expect(Reconcile.decide(local: local, remote: row("a.txt", "2222222", [me.rawValue: 1, them: 1]), resolver: me)
                == .take(version: VersionVector([me.rawValue: 1, them: 1])))
        #expect(Reconcile.decide(local: local, remote: row("a.txt", "1111111", [me.rawValue: 1]), resolver: me) == .skip)
        guard case .conflict(let remoteWins, let copy, let v) = Reconcile.decide(
            local: local, remote: row("a.txt", "2222222", [them: 1], mtime: 1_800_000_000_000_000_000), resolver: me) else {
            Issue.record("no conflict"); return
        }
        #expect(remoteWins)
        #expect(copy.rawValue.hasPrefix("a.sync-conflict-") && copy.rawValue.hasSuffix("-1111111.txt"), "\(copy)")
        #expect(v == VersionVector([me.rawValue: 2, them: 1]))
    }

    /// Two conflicts of one file in one second, settled on two nodes by the same node's change,
    /// lose different contents: their copies have different names, so neither replaces the other.
    @Test func copiesOfDifferentContentsNeverShareAName() {
        let a = Reconcile.conflictCopy(of: try! RelativePath("d/doc.txt"), mtimeNs: 1_700_000_000_000_000_000, node: them, tag: "aaaaaaa")
        let b = Reconcile.conflictCopy(of: try! RelativePath("d/doc.txt"), mtimeNs: 1_700_000_000_000_000_000, node: them, tag: "bbbbbbb")
        #expect(a != b)
        let local = row("doc.txt", "aaaaaaa", [me.rawValue: 1]), other = row("doc.txt", "bbbbbbb", [me.rawValue: 1])
        let remote = row("doc.txt", "ccccccc", [them: 1], mtime: 1_800_000_000_000_000_000)
        guard case .conflict(_, let c1, _) = Reconcile.decide(local: local, remote: remote, resolver: me),
              case .conflict(_, let c2, _) = Reconcile.decide(local: other, remote: remote, resolver: me) else {
            Issue.record("no conflict"); return
        }
        #expect(c1 != c2)
    }

    @Test func aCopyNamesItsOriginalWithOrWithoutATag() {
        for (name, tag) in [("doc.txt", "abcdef0"), ("doc.txt", nil), ("Makefile", "0123456"), ("Makefile", nil), (".hidden", "fedcba9")] {
            let copy = Reconcile.conflictCopy(of: try! RelativePath("d/" + name), mtimeNs: 1_700_000_000_000_000_000, node: them, tag: tag)
            #expect(Reconcile.original(ofCopy: copy)?.rawValue == "d/" + name, "\(copy)")
        }
        #expect(Reconcile.original(ofCopy: try! RelativePath("plain.txt")) == nil)
    }
}
