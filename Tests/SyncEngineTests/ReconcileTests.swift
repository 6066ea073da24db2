import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport
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

    /// What a node holds at the path, and in a conflict copy, after deciding one pair.
    struct Outcome: Equatable { var path: String?; var copy: (name: String, content: String?)?
        static func == (a: Outcome, b: Outcome) -> Bool { a.path == b.path && a.copy?.name == b.copy?.name && a.copy?.content == b.copy?.content }
    }

    static func outcome(_ d: Reconcile.Decision, local: FileEntry, remote: FileEntry) -> (Outcome, FileEntry) {
        func content(_ e: FileEntry) -> String? { e.deleted ? nil : e.hash }
        switch d {
        case .skip: return (Outcome(path: content(local)), local)
        case .take(let v): var r = remote; r.version = v; return (Outcome(path: content(remote)), r)
        case .keepLocal(let v): var l = local; l.version = v; return (Outcome(path: content(local)), l)
        case .conflict(let remoteWins, let copy, let v):
            var w = remoteWins ? remote : local
            w.version = v
            return (Outcome(path: content(w), copy: (copy.rawValue, content(remoteWins ? local : remote))), w)
        }
    }

    /// Random pairs of rows (versions over three nodes, contents, deletions, times): both nodes of
    /// a pair decide alike (the same content at the path, the same copy of the same content), no
    /// side is lost (of two concurrent different contents, both stay; a modification beats a
    /// deletion), and deciding again changes nothing.
    @Test func decidingIsSymmetricLosesNoSideAndIsIdempotent() throws {
        let nodes = ["a", "b", "c"].map { try! NodeID(String(repeating: $0, count: 52)) }
        var rng = SplitMix(20_261_130)
        for round in 0..<10_000 {
            func version() -> VersionVector {
                var v = VersionVector()
                for n in nodes where Bool.random(using: &rng) { v = VersionVector(v.counters.merging([n.rawValue: UInt64.random(in: 1...3, using: &rng)]) { $1 }) }
                return v.counters.isEmpty ? VersionVector([nodes[0].rawValue: 1]) : v
            }
            func entry(_ v: VersionVector) -> FileEntry {
                var e = row("f.txt", String(format: "%07x", Int.random(in: 0..<3, using: &rng)) + String(repeating: "0", count: 33), v.counters,
                            mtime: 1_700_000_000_000_000_000 + Int64.random(in: 0..<3, using: &rng) * 1_000_000_000)
                if Int.random(in: 0..<5, using: &rng) == 0 { e.deleted = true; e.hash = nil }
                return e
            }
            let a = entry(version()), b = entry(version())
            // Equal versions always mean equal content (a node never gives two contents one version).
            if a.version == b.version && (a.hash != b.hash || a.deleted != b.deleted) { continue }
            let (n1, n2) = (nodes[0], nodes[1])
            let (o1, r1) = Self.outcome(Reconcile.decide(local: a, remote: b, resolver: n1), local: a, remote: b)
            let (o2, r2) = Self.outcome(Reconcile.decide(local: b, remote: a, resolver: n2), local: b, remote: a)
            #expect(o1 == o2, "round \(round): \(a) against \(b): \(o1) here, \(o2) there")
            if a.version.compare(b.version) == .concurrent {
                let kept = [o1.path, o1.copy?.content].compactMap { $0 }
                for side in [a, b] where !side.deleted {
                    #expect(kept.contains(side.hash!), "round \(round): \(side.hash!) lost: \(o1)")
                }
            }
            // Again, with what each side holds now: nothing more to do.
            #expect(Reconcile.decide(local: r1, remote: b, resolver: n1) == .skip, "round \(round)")
            #expect(Reconcile.decide(local: r2, remote: a, resolver: n2) == .skip, "round \(round)")
        }
    }
}
