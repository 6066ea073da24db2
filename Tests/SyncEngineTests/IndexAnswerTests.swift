import Foundation
import Testing
@testable import SyncCore
@testable import SyncProtocol
@testable import SyncEngine

/// An index answer holds what its peer accepts: however many rows were asked for, their bytes stay
/// within half of `Limits.maxBatchBytes` (long paths and link targets), and the rest comes next.
@Suite struct IndexAnswerTests {
    @Test func anAnswerOfLongPathsStaysWithinWhatThePeerAccepts() throws {
        let base = FileSystem.canonical(NSTemporaryDirectory()) + "/sync-answer-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (a, b) = try PullerPropertyTests.Node.pair(base)
        // 2,300 rows of ~3,900-byte paths: ~9 MB of rows, more than half the budget.
        let stem = Array(repeating: String(repeating: "x", count: 250), count: 15).joined(separator: "/")
        let v = VersionVector().bumped(by: a.identity.id)
        let rows = try (0..<2300).map { i in
            FileEntry(path: try RelativePath(stem + "/f\(i)"), kind: .file, hash: String(repeating: "0", count: 40), size: 1, version: v)
        }
        try a.context.index.record(changes: rows, commit: nil)
        let server = FolderServer(state: a.state, peer: b.identity.id)
        var since: Int64 = 0
        var answers: [Int] = []
        while answers.count < 5 {
            let t = GatherTests.Recorder(input: Message.indexRequest(id: 1, folder: a.context.folder.id.rawValue, since: since, limit: 5000).framed())
            let session = Session(link: Link(t), identity: a.identity, dialing: false)
            session.handler = server
            #expect(try session.handleNext())
            var got: [WireEntry] = []
            var more = false
            for m in try t.messages() {
                if case .entries(_, let list) = m { got += list }
                if case .indexEnd(_, _, _, let m) = m { more = m }
            }
            #expect(got.reduce(0) { $0 + $1.byteCount } <= Limits.maxBatchBytes / 2)
            answers.append(got.count)
            since = got.map(\.sequence).max() ?? since
            if !more { break }
        }
        #expect(answers.count == 2, "\(answers)")
        #expect(answers.reduce(0, +) == 2300)
        #expect(answers[0] > 1000 && answers[0] < 2300)
    }
}
