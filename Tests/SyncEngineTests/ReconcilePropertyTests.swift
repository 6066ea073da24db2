import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport
@testable import SyncEngine

/// A seeded property test of reconciliation over random histories of several nodes: the puller's
/// decisions (`Reconcile.decide`, conflict copies as the puller makes them) applied to a model of
/// each node's index, with the properties of Unison's specification as the oracle:
/// - convergence: once every node has pulled from every other in any order, all hold one tree;
/// - no version lost: every write that no other write or deletion of its path saw (a maximal
///   write) is in every tree at the end, at its path or in a conflict copy of it;
/// - safety: a row is replaced only by one whose version dominates it, or by the merge of both.
@Suite struct ReconcilePropertyTests {
    /// One node of the model: its index rows by path.
    struct Node {
        let id: NodeID
        var rows: [RelativePath: FileEntry] = [:]
    }

    /// What the user did: the version of each write and deletion, by path.
    struct Op { let path: RelativePath; let version: VersionVector; let hash: String?; let node: Int; let step: Int }

    static let ids = ["a", "b", "c", "d", "e"].map { try! NodeID(String(repeating: $0, count: 52)) }
    static let paths = ["x.txt", "y.txt", "d/z"].map { try! RelativePath($0) }

    /// One pull of every row of `src` into `dst`, deciding as `Puller.apply` does.
    static func pull(_ dst: inout Node, from src: Node) {
        for (path, remote) in src.rows.sorted(by: { $0.key < $1.key }) {
            let local = dst.rows[path]
            switch Reconcile.decide(local: local, remote: remote, resolver: dst.id) {
            case .skip:
                continue
            case .take(let v):
                var r = remote
                r.version = v
                dst.rows[path] = r
            case .keepLocal(let v):
                dst.rows[path]!.version = v
            case .conflict(let remoteWins, let copy, let v):
                let l = local!
                let loser = remoteWins ? l : remote
                if let there = dst.rows[copy], !there.deleted {
                    // A copy already here: the same loser settles only the path; other content waits.
                    guard there.hash == loser.hash else { continue }
                } else {
                    var c = loser
                    c.path = copy
                    dst.rows[copy] = c
                }
                var winner = remoteWins ? remote : l
                winner.version = v
                dst.rows[path] = winner
            }
        }
    }

    /// The live tree of a node: path to content.
    static func tree(_ n: Node) -> [RelativePath: String] {
        var t: [RelativePath: String] = [:]
        for (p, r) in n.rows where !r.deleted { t[p] = r.hash }
        return t
    }

    /// Runs one random history; returns a description of the first property broken, if any.
    static func run(seed: UInt64) -> String? {
        var rng = SplitMix(seed)
        let count = Int.random(in: 2...5, using: &rng)
        var nodes = (0..<count).map { Node(id: ids[$0]) }
        var ops: [Op] = []
        var next = 0
        let steps = Int.random(in: 5...40, using: &rng)
        for step in 0..<steps {
            let n = Int.random(in: 0..<count, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5: // a write
                let p = paths.randomElement(using: &rng)!
                next += 1
                let hash = String(format: "%07x", next) + String(repeating: "0", count: 33)
                let prior = nodes[n].rows[p]?.version ?? VersionVector()
                let v = prior.bumped(by: nodes[n].id)
                nodes[n].rows[p] = FileEntry(path: p, kind: .file, hash: hash, size: 1,
                                             // Often the same second: conflict copies of one second meet.
                                             mtimeNs: 1_700_000_000_000_000_000 + Int64(step / 4) * 1_000_000_000,
                                             version: v)
                ops.append(Op(path: p, version: v, hash: hash, node: n, step: step))
            case 5: // a deletion
                let p = paths.randomElement(using: &rng)!
                guard let r = nodes[n].rows[p], !r.deleted else { continue }
                let v = r.version.bumped(by: nodes[n].id)
                nodes[n].rows[p] = FileEntry(path: p, kind: .file, mtimeNs: 0, deleted: true, version: v)
                ops.append(Op(path: p, version: v, hash: nil, node: n, step: step))
            default: // a pull
                let src = Int.random(in: 0..<count, using: &rng)
                guard src != n else { continue }
                let before = nodes[n].rows
                pull(&nodes[n], from: nodes[src])
                // Safety: a row changes only to a version that dominates what was there.
                for (p, old) in before {
                    guard let now = nodes[n].rows[p], now.version != old.version else { continue }
                    if now.version.compare(old.version) != .newer {
                        return "seed \(seed): step \(step): \(p) went from \(old.version) to \(now.version), which does not dominate it"
                    }
                }
            }
        }
        // Quiescence: rounds of every pair in a random order until nothing moves.
        for round in 0..<20 {
            let before = nodes.map(\.rows)
            var pairs: [(Int, Int)] = []
            for d in 0..<count { for s in 0..<count where s != d { pairs.append((d, s)) } }
            pairs.shuffle(using: &rng)
            for (d, s) in pairs { pull(&nodes[d], from: nodes[s]) }
            if nodes.map(\.rows) == before { break }
            if round == 19 { return "seed \(seed): no quiescence after 20 rounds" }
        }
        let trees = nodes.map(tree)
        if let i = trees.firstIndex(where: { $0 != trees[0] }) {
            return "seed \(seed): not converged: node 0 \(trees[0]) node \(i) \(trees[i])"
        }
        // No version lost: a write no user operation on its path dominates survives.
        for w in ops where w.hash != nil {
            let seen = ops.contains { u in u.path == w.path && u.version.compare(w.version) == .newer }
            guard !seen else { continue }
            let places = trees[0].filter { p, h in
                h == w.hash && (p == w.path || copyChain(of: p).contains(w.path))
            }
            if places.isEmpty {
                return "seed \(seed): the write of \(w.hash!.prefix(7)) at \(w.path) on node \(w.node) (step \(w.step), \(w.version)) is lost: \(trees[0])"
            }
        }
        return nil
    }

    /// The paths a conflict copy stands for, nearest first (a copy of a copy too).
    static func copyChain(of p: RelativePath) -> [RelativePath] {
        var out: [RelativePath] = []
        var q = p
        while let o = Reconcile.original(ofCopy: q) { out.append(o); q = o }
        return out
    }

    @Test func tenThousandRandomHistoriesConvergeAndLoseNoVersion() {
        var failures: [String] = []
        for seed in UInt64(1)...10_000 {
            if let f = Self.run(seed: seed) { failures.append(f); if failures.count >= 5 { break } }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
