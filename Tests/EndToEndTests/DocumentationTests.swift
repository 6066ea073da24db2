import Foundation
import Testing
@testable import SyncCommands

@Suite struct DocumentationTests {
    @Test func manPagesAndCompletionsAreCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let stale = DocGenerator.stale(root: root)
        #expect(stale.isEmpty, "stale or missing; run `swift run sync-docgen`: \(stale)")
        for (path, _) in DocGenerator.files() where path.hasPrefix("man/") {
            if have("man") {
                let r = try Node.shell("MANWIDTH=80 man -l '\(root)/\(path)' 2>&1 >/dev/null", environment: [:])
                #expect(r.stdout.isEmpty, "\(path): \(r.stdout)")
            }
        }
    }

    /// Bash completion as a user gets it: `sync CMD -<TAB>` offers CMD's options (the dispatcher
    /// hands its line, words and cursor over), and `up` is a command.
    @Test func bashCompletionGoesThroughTheDispatcher() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        func complete(_ line: String) throws -> String {
            let script = """
                shopt -s extglob; source '\(root)/completions/bash/sync'
                line=$1; read -ra COMP_WORDS <<< "$line"; [[ $line == *' ' ]] && COMP_WORDS+=('')
                COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=$line; COMP_POINT=${#line}
                _sync; echo "${COMPREPLY[*]}"
                """
            return try Node.execute("/bin/bash", ["-c", script, "_", line], environment: [:], stdin: nil, timeout: 30)
                .stdout.trimmingCharacters(in: .newlines)
        }
        #expect(try complete("sync log -") == "--all --json -h --help -n --max-count --since --until")
        #expect(try complete("sync up --st") == "--stop-timeout")
        #expect(try complete("sync u").split(separator: " ").contains("up"))
        #expect(try complete("sync peer a") == "add")
        #expect(try complete("sync help fo") == "folders forget")
    }
}
