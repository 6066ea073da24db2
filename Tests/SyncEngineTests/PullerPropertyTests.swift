import Foundation
import Testing
import SyncCore
import SyncTestSupport
@testable import SyncEngine

/// The property test of reconciliation with the real parts: random histories of 2–4 nodes, each a
/// real folder with its own state directory, index and git history; random writes, deletions and
/// directory removals recorded by the real `Committer`; pulls in random order by the real `Puller`
/// from a real `FolderServer` over a socket pair (every part of a pull but the SSH transport). The
/// oracle is the one of Unison's specification, as in `ReconcilePropertyTests`:
/// - convergence: after every node has pulled from every other (in a random order), all folders
///   hold one tree, a further round changes nothing, and a rescan finds nothing to record;
/// - no version lost: every write that no operation on its path saw (a maximal write) is in every
///   folder at the end, at its path or in a conflict copy of it;
/// - safety: no pull holds a row, refuses one, or leaves a temporary behind.
///
/// SYNC_TEST_PULLER_CASES runs more cases; SYNC_TEST_SEED runs one seed.
@Suite struct PullerPropertyTests {
    /// Seeds of failures found, run on every test run.
    static let regressions: [UInt64] = []

    final class Node {
        let base: String, root: String
        let state: StateDirectory
        let context: FolderContext
        let identity: NodeIdentity
        /// The operations whose effect this node has seen (its own, and what pulls brought).
        var known: Set<Int> = []

        init(base: String, id: FolderID?) throws {
            self.base = base
            root = base + "/f"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            state = StateDirectory(root: base + "/state")
            let folder = try Registry.initFolder(at: root, id: id, state: state)
            context = try FolderContext(folder, state: state)
            identity = try state.identity()
        }

        /// Every regular file under the folder, by path, with its content.
        func tree() -> [String: String] {
            var t: [String: String] = [:]
            for p in (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? [] {
                var st = stat()
                guard lstat(root + "/" + p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                t[p] = (try? String(contentsOfFile: root + "/" + p, encoding: .utf8)) ?? "?"
            }
            return t
        }
    }

    /// A write the user made.
    struct Write { let op: Int; let path: String; let content: String; let node: Int }

    static let paths = ["x.txt", "y.txt", "d/z.txt", "d/w.txt"]

    /// One pull of `src`'s folder into `dst`, over a socket pair.
    static func pull(_ dst: Node, from src: Node) throws -> PullOutcome {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SyncError.io(path: "socketpair", operation: "socketpair", errno: errno) }
        let theirFD = fds[1]
        let box = InviteTests.Box(FolderServer(state: src.state, peer: dst.identity.id))
        let identity = src.identity
        let done = DispatchSemaphore(value: 0)
        Thread {
            let s = Session(link: Link(FileDescriptorTransport(input: theirFD, output: theirFD)), identity: identity, dialing: false)
            s.handler = box.handler
            _ = try? s.handshake()
            try? s.serveUntilClosed()
            shutdown(theirFD, Int32(SHUT_RDWR))
            done.signal()
        }.start()
        defer { done.wait(); close(fds[0]); close(theirFD) }
        let mine = Session(link: Link(FileDescriptorTransport(input: fds[0], output: fds[0])), identity: dst.identity, dialing: true)
        let peer = try mine.handshake()
        defer { try? mine.send(.bye); shutdown(fds[0], Int32(SHUT_RDWR)) }
        let puller = Puller(context: dst.context, remote: RemoteFolder(session: mine, folder: dst.context.folder.id.rawValue), peer: peer)
        puller.batchSize = 3 // batches end inside a history: their edges are where pulls go wrong
        return try puller.run()
    }

    /// Runs one random history; returns a description of the first property broken, if any.
    static func run(seed: UInt64, base: String) throws -> String? {
        signal(SIGPIPE, SIG_IGN)
        var rng = SplitMix(seed)
        let count = Int.random(in: 2...4, using: &rng)
        var nodes = [try Node(base: base + "/0", id: nil)]
        for i in 1..<count { nodes.append(try Node(base: base + "/\(i)", id: nodes[0].context.folder.id)) }
        for a in nodes { for b in nodes where a !== b { try FolderAccess.allow(PeerKey(line: b.identity.publicKeyLine), for: a.context.folder) } }
        var writes: [Write] = []
        /// The writes a later operation on their path saw (the others are maximal).
        var superseded: Set<Int> = []
        var story: [String] = []
        func touch(_ n: Int, _ op: Int, _ touched: (String) -> Bool) {
            for w in writes where touched(w.path) && nodes[n].known.contains(w.op) { superseded.insert(w.op) }
            nodes[n].known.insert(op)
        }
        func pull(_ d: Int, _ s: Int) throws -> PullOutcome {
            let o = try Self.pull(nodes[d], from: nodes[s])
            story.append("\(d) pulls \(s): \(o.changes.map { "\($0.status) \($0.path)" }) \(o.problems)")
            if o.problems.isEmpty { nodes[d].known.formUnion(nodes[s].known) }
            return o
        }
        let steps = Int.random(in: 4...24, using: &rng)
        for op in 0..<steps {
            let n = Int.random(in: 0..<count, using: &rng)
            let node = nodes[n]
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let p = paths.randomElement(using: &rng)!
                let content = "node \(n) op \(op)\n"
                try FileManager.default.createDirectory(atPath: (node.root + "/" + p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try content.write(toFile: node.root + "/" + p, atomically: Bool.random(using: &rng), encoding: .utf8)
                touch(n, op, { $0 == p })
                writes.append(Write(op: op, path: p, content: content, node: n))
                story.append("op \(op): \(n) writes \(p)")
            case 5..<7:
                let p = paths.randomElement(using: &rng)!
                guard (try? FileManager.default.removeItem(atPath: node.root + "/" + p)) != nil else { continue }
                touch(n, op, { $0 == p })
                story.append("op \(op): \(n) deletes \(p)")
            case 7:
                guard (try? FileManager.default.removeItem(atPath: node.root + "/d")) != nil else { continue }
                touch(n, op, { $0.hasPrefix("d/") })
                story.append("op \(op): \(n) removes d")
            default:
                let s = (n + Int.random(in: 1..<count, using: &rng)) % count
                _ = try pull(n, s)
                continue
            }
            _ = try Committer(node.context).commit()
        }
        // Every node pulls from every other, in a random order, until a round changes nothing.
        var pairs = nodes.indices.flatMap { d in nodes.indices.filter { $0 != d }.map { (d, $0) } }
        var quiet = false
        for _ in 0..<(2 * count + 2) {
            pairs.shuffle(using: &rng)
            quiet = true
            for (d, s) in pairs {
                let o = try pull(d, s)
                if !o.changes.isEmpty || !o.problems.isEmpty || o.foreignRows > 0 { quiet = false }
            }
            if quiet { break }
        }
        let why = "seed \(seed), \(count) nodes:\n" + story.joined(separator: "\n")
        guard quiet else { return "no round without changes\n" + why }
        let trees = nodes.map { $0.tree() }
        for (i, t) in trees.enumerated() where t != trees[0] { return "node \(i) holds \(t), node 0 \(trees[0])\n" + why }
        for (i, node) in nodes.enumerated() {
            if let r = try Committer(node.context).commit() { return "node \(i): a rescan found \(r.changes.map(\.path))\n" + why }
        }
        if let tmp = trees[0].keys.first(where: { $0.contains(".sync-tmp") }) { return "a temporary is left: \(tmp)\n" + why }
        for w in writes where !superseded.contains(w.op) {
            let copies = trees[0].filter { (try? Reconcile.original(ofCopy: RelativePath($0.key)))??.rawValue == w.path }
            guard trees[0][w.path] == w.content || copies.values.contains(w.content) else {
                return "op \(w.op) (node \(w.node) wrote \(w.path)) is maximal but lost: there \(trees[0][w.path] ?? "nothing"), copies \(copies)\n" + why
            }
        }
        return nil
    }

    @Test func randomHistoriesOfRealNodesConvergeAndLoseNoVersion() throws {
        let env = ProcessInfo.processInfo.environment
        let cases = env["SYNC_TEST_PULLER_CASES"].flatMap { Int($0) } ?? 40
        let seeds = env["SYNC_TEST_SEED"].flatMap { UInt64($0) }.map { [$0] }
            ?? (Self.regressions + (0..<UInt64(cases)).map { 20_261_130 &+ $0 })
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-puller-property-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        var failed: [UInt64] = []
        for seed in seeds {
            let dir = base + "/\(seed)"
            if let broken = try Self.run(seed: seed, base: dir) {
                failed.append(seed)
                if failed.count <= 3 { Issue.record(Comment(rawValue: broken)) }
            }
            try? FileManager.default.removeItem(atPath: dir)
        }
        #expect(failed.isEmpty, "failing seeds: \(failed)")
    }
}
