import Foundation
import SyncCore
import SyncGit

/// One recorded change of one path, as commit messages and `sync log` show it.
public struct Change: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable { case added = "A", modified = "M", deleted = "D", renamed = "R" }
    public let status: Status
    public let path: String
    /// For a rename: the path the content had before (`path` is where it is now).
    public let from: String?

    /// `A PATH`, `M PATH`, `D PATH`, `R FROM -> PATH` (paths quoted as `PathQuoting` does; in a
    /// rename, a path that holds ` -> ` is quoted too, so the line reads back one way only).
    public var line: String {
        guard let from else { return "\(status.rawValue) \(PathQuoting.quote(path))" }
        return "R \(Self.renameQuote(from)) -> \(Self.renameQuote(path))"
    }

    public init(status: Status, path: String) { self.status = status; self.path = path; from = nil }

    /// `from` renamed to `path` (the content the same).
    public init(renamed from: String, to path: String) { status = .renamed; self.path = path; self.from = from }

    init?(line: Substring) {
        guard line.count >= 3, let s = Status(rawValue: String(line.prefix(1))), line.dropFirst().first == " " else { return nil }
        let rest = line.dropFirst(2)
        guard s == .renamed else {
            guard let p = PathQuoting.unquote(rest) else { return nil }
            self.init(status: s, path: p)
            return
        }
        // The old path ends at the first ` -> ` outside quotes.
        var end = rest.startIndex
        if rest.first == "\"" {
            var i = rest.index(after: rest.startIndex), escaped = false
            while i < rest.endIndex {
                if escaped { escaped = false } else if rest[i] == "\\" { escaped = true } else if rest[i] == "\"" { break }
                i = rest.index(after: i)
            }
            guard i < rest.endIndex else { return nil }
            end = rest.index(after: i)
        } else {
            guard let r = rest.range(of: " -> ") else { return nil }
            end = r.lowerBound
        }
        guard rest[end...].hasPrefix(" -> "), let old = PathQuoting.unquote(rest[..<end]),
              let new = PathQuoting.unquote(rest[end...].dropFirst(4)) else { return nil }
        self.init(renamed: old, to: new)
    }

    static func renameQuote(_ path: String) -> String {
        let q = PathQuoting.quote(path)
        return q.first != "\"" && path.contains(" -> ") ? "\"" + q + "\"" : q
    }

    /// Whether the change touches `path` or what is below it (a rename: either of its two paths).
    func touches(_ path: RelativePath) -> Bool {
        [self.path, from].compactMap { $0 }.contains { (try? RelativePath($0))?.isWithin(path) ?? false }
    }

    /// The changes with each deletion of a file and an addition of a file with the same content
    /// (`content` gives the content id a deletion took away or an addition brought; nil: not a
    /// file) folded into one rename, one to one, in the place of the addition; the rest as they were.
    static func foldingRenames(_ changes: [Change], content: (Change) -> String?) -> [Change] {
        var gone: [String: [String]] = [:]
        for c in changes where c.status == .deleted {
            if let id = content(c) { gone[id, default: []].append(c.path) }
        }
        guard !gone.isEmpty else { return changes }
        var folded: Set<String> = []
        var out: [Change] = []
        for c in changes {
            guard c.status == .added, let id = content(c), var list = gone[id], !list.isEmpty else { out.append(c); continue }
            let old = list.removeFirst()
            gone[id] = list
            folded.insert(old)
            out.append(Change(renamed: old, to: c.path))
        }
        return out.filter { !($0.status == .deleted && folded.contains($0.path)) }
    }
}
