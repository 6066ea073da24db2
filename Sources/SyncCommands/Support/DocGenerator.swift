import ArgumentParser
import Foundation

/// Generates the manual pages and shell completions from the argument definitions, so they cannot
/// drift from the programs; `sync-docgen --check` (and a test) fails when the committed files are stale.
public enum DocGenerator {
    /// Every generated file, by its path relative to the repository root.
    public static func files() -> [(path: String, content: String)] {
        var out: [(String, String)] = [("man/man1/sync.1", dispatcherPage())]
        for c in Toolkit.commands {
            let name = c.configuration.commandName!
            out.append(("man/man1/\(name).1", page(c)))
            out.append(("completions/bash/\(name)", c.completionScript(for: .bash)))
            out.append(("completions/zsh/_\(name)", c.completionScript(for: .zsh)))
            out.append(("completions/fish/\(name).fish", c.completionScript(for: .fish)))
        }
        out.append(("man/man1/sync-up.1", porcelainPage()))
        out.append(("completions/bash/sync", bashDispatcher()))
        out.append(("completions/zsh/_sync", zshDispatcher()))
        out.append(("completions/fish/sync.fish", fishDispatcher()))
        return out
    }

    /// `man sync-up`: the daemon's page under the name a user types (`sync up`).
    static func porcelainPage() -> String {
        page(DaemonCommand.self)
            .replacingOccurrences(of: ".TH SYNC-DAEMON 1", with: ".TH SYNC-UP 1")
            .replacingOccurrences(of: ".SH NAME\nsync-daemon \\-", with: ".SH NAME\nsync-up, sync up \\-")
            .replacingOccurrences(of: ".SH SYNOPSIS\n.nf\nsync-daemon", with: ".SH SYNOPSIS\n.nf\nsync up")
    }

    /// Files under `root` that differ from what would be generated now.
    static func stale(root: String) -> [String] {
        files().filter { f in
            FileManager.default.contents(atPath: root + "/" + f.path).map { String(decoding: $0, as: UTF8.self) } != f.content
        }.map(\.path)
    }

    public static func main() -> Never {
        let args = Array(CommandLine.arguments.dropFirst())
        let check = args.contains("--check")
        let root = args.first { !$0.hasPrefix("-") } ?? FileManager.default.currentDirectoryPath
        if check {
            let s = stale(root: root)
            s.forEach { warn("sync-docgen: \($0): stale; run sync-docgen \(root)") }
            exit(s.isEmpty ? 0 : 1)
        }
        for f in files() {
            let path = root + "/" + f.path
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data(f.content.utf8)) else {
                warn("sync-docgen: \(path): cannot write")
                exit(1)
            }
        }
        exit(0)
    }

    // MARK: Manual pages

    struct Info: Decodable { let command: CommandInfo }
    struct CommandInfo: Decodable {
        let commandName: String
        let abstract: String?
        let discussion: String?
        let arguments: [Argument]?
    }
    struct Argument: Decodable {
        struct Name: Decodable { let kind: String; let name: String }
        let kind: String
        let shouldDisplay: Bool
        let isOptional: Bool
        let isRepeating: Bool
        let names: [Name]?
        let valueName: String?
        let defaultValue: String?
        let abstract: String?
    }

    static func roff(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\e").split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix(".") || line.hasPrefix("'") ? "\\&" + line : String(line)
        }.joined(separator: "\n")
    }

    static func paragraphs(_ s: String) -> String {
        s.components(separatedBy: "\n\n").map(roff).joined(separator: "\n.PP\n")
    }

    static func header(_ name: String, _ abstract: String) -> [String] {
        [".TH \(name.uppercased()) 1 \"\" \"sync \(Toolkit.version)\" \"sync manual\"", ".SH NAME",
         "\(name) \\- \(roff(abstract))"]
    }

    static func page(_ c: any ToolCommand.Type) -> String {
        let data = Data(c._dumpHelp().utf8)
        guard let info = try? JSONDecoder().decode(Info.self, from: data) else { return "" }
        let cmd = info.command
        var lines = header(cmd.commandName, cmd.abstract ?? "")
        lines += [".SH SYNOPSIS", ".nf", roff(c.usageString()), ".fi", ".SH DESCRIPTION", paragraphs(cmd.abstract ?? "")]
        if let d = cmd.discussion, !d.isEmpty { lines += [".PP", paragraphs(d)] }
        let args = (cmd.arguments ?? []).filter { $0.shouldDisplay }
        if !args.isEmpty {
            lines.append(".SH OPTIONS")
            for a in args {
                var term: String
                if a.kind == "positional" {
                    term = "\\fI\(a.valueName ?? "value")\\fR" + (a.isRepeating ? " ..." : "")
                } else {
                    term = (a.names ?? []).map { n in
                        (n.kind == "long" ? "\\-\\-" : "\\-") + n.name.replacingOccurrences(of: "-", with: "\\-")
                    }.map { "\\fB\($0)\\fR" }.joined(separator: ", ")
                    if a.kind == "option" { term += " \\fI\(a.valueName ?? "value")\\fR" }
                }
                var text = roff(a.abstract ?? "")
                if let d = a.defaultValue, !d.isEmpty, a.kind != "flag" { text += " (default: \(roff(d)))" }
                lines += [".TP", term, text]
            }
        }
        let m = c.manual
        if let o = m.output { lines += [".SH OUTPUT", paragraphs(o)] }
        lines += [".SH EXIT STATUS", paragraphs(m.exitStatus)]
        if let f = m.files { lines += [".SH FILES", paragraphs(f)] }
        lines += [".SH ENVIRONMENT", ".TP", "\\fBSYNC_DIR\\fR", "The node's state directory (default \\fI$XDG_DATA_HOME/sync\\fR)."]
        if !m.examples.isEmpty {
            lines.append(".SH EXAMPLES")
            for e in m.examples { lines += [".TP", "\\fB\(roff(e.command))\\fR", roff(e.meaning)] }
        }
        lines += [".SH SEE ALSO", (["sync"] + m.seeAlso).map { "\\fB\($0)\\fR(1)" }.joined(separator: ", ")]
        return lines.joined(separator: "\n") + "\n"
    }

    static func dispatcherPage() -> String {
        var lines = header("sync", "peer-to-peer folder synchronization, as plumbing commands")
        lines += [".SH SYNOPSIS", ".nf", "\\fBsync\\fR", "\\fBsync\\fR [\\fB\\-\\-sync\\-dir\\fR \\fIDIR\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR...]",
                  "\\fBsync help\\fR \\fICOMMAND\\fR", ".fi", ".SH DESCRIPTION",
                  paragraphs("""
                    Runs sync-COMMAND with ARGS, found in the directory of this program first, then on PATH, as git \
                    runs git-COMMAND. Each command does one thing and prints stable lines for scripts; sync help \
                    COMMAND shows its manual.

                    With no arguments, sync behaves as coreutils sync: it flushes all file systems, prints nothing \
                    and exits 0, so that scripts that flush file systems keep working where this program shadows \
                    /bin/sync. So do sync -f, sync -d and sync FILE... (a FILE given with a '/').
                    """),
                  ".SH COMMANDS"]
        for c in Toolkit.commands {
            lines += [".TP", "\\fB\(c.configuration.commandName!.dropFirst(5))\\fR", roff(c.configuration.abstract)]
        }
        lines += [".SH OPTIONS", ".TP", "\\fB\\-\\-sync\\-dir\\fR \\fIDIR\\fR", "Use DIR as the state directory (sets SYNC_DIR).",
                  ".TP", "\\fB\\-\\-help\\fR", "List the commands.", ".TP", "\\fB\\-\\-version\\fR", "Print the version.",
                  ".SH EXIT STATUS", "The command's own; 2 for an unknown command or option.",
                  ".SH ENVIRONMENT", ".TP", "\\fBSYNC_DIR\\fR", "The node's state directory (default \\fI$XDG_DATA_HOME/sync\\fR, else \\fI~/.local/share/sync\\fR).",
                  ".SH EXAMPLES", ".TP", "\\fBsync init ~/Documents && sync commit ~/Documents\\fR", "register a folder and record it",
                  ".TP", "\\fBsync\\-watch ~/Documents | sync\\-commit ~/Documents\\fR", "record every change as it happens",
                  ".SH SEE ALSO",
                  Toolkit.commands.map { "\\fB\($0.configuration.commandName!)\\fR(1)" }.joined(separator: ", ")]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Completions of the dispatcher, which hand over to each command's own

    static var names: String { (Toolkit.commands.map { String($0.configuration.commandName!.dropFirst(5)) } + ["up"]).joined(separator: " ") }

    static func bashDispatcher() -> String {
        """
        # bash completion for sync: completes the command, then hands over to sync-COMMAND's completion.
        _sync() {
            local cur=${COMP_WORDS[COMP_CWORD]}
            if (( COMP_CWORD == 1 )); then
                COMPREPLY=( $(compgen -W "\(names) help --sync-dir --help --version" -- "$cur") )
                return
            fi
            local word=${COMP_WORDS[1]} cmd=${COMP_WORDS[1]}
            if [[ $cmd == help ]]; then
                COMPREPLY=( $(compgen -W "\(names)" -- "$cur") )
                return
            fi
            [[ $cmd == up ]] && cmd=daemon
            local fn="_sync-${cmd}"
            if ! declare -F "$fn" >/dev/null; then
                declare -F _completion_loader >/dev/null && _completion_loader "sync-${cmd}" >/dev/null 2>&1
                local here=${BASH_SOURCE[0]%/*}
                [[ -r $here/sync-$cmd ]] && ! declare -F "$fn" >/dev/null && source "$here/sync-$cmd"
            fi
            declare -F "$fn" >/dev/null || return
            # The command's completion reads the line as `sync-CMD ...`: the words, the line and the
            # cursor all say so.
            local rest=${COMP_LINE#*sync}
            rest=${rest#"${rest%%[![:space:]]*}"}
            rest=${rest#"$word"}
            local line="sync-$cmd$rest"
            COMP_POINT=$(( COMP_POINT - ${#COMP_LINE} + ${#line} ))
            COMP_LINE=$line
            COMP_WORDS=( "sync-$cmd" "${COMP_WORDS[@]:2}" )
            COMP_CWORD=$(( COMP_CWORD - 1 ))
            "$fn" "sync-$cmd" "$cur" "${COMP_WORDS[COMP_CWORD-1]}"
        }
        complete -o default -F _sync sync

        """
    }

    static func zshDispatcher() -> String {
        """
        #compdef sync
        # zsh completion for sync: completes the command, then hands over to sync-COMMAND's completion.
        _sync() {
            if (( CURRENT == 2 )); then
                local -a cmds
                cmds=(\(Toolkit.commands.map { "'\($0.configuration.commandName!.dropFirst(5)):\($0.configuration.abstract.replacingOccurrences(of: "'", with: ""))'" }.joined(separator: " ")) 'help:show a command'"'"'s manual')
                _describe 'command' cmds
                return
            fi
            if [[ ${words[2]} == help ]]; then
                compadd \(names)
                return
            fi
            words=("sync-${words[2]}" "${(@)words[3,-1]}")
            (( CURRENT-- ))
            _normal
        }
        _sync "$@"

        """
    }

    static func fishDispatcher() -> String {
        var lines = ["# fish completion for sync: completes the command, then hands over to sync-COMMAND's completion.",
                     "function __sync_delegate",
                     "    set -l tokens (commandline -opc)",
                     "    complete -C \"sync-$tokens[2] $tokens[3..-1] \"(commandline -ct)",
                     "end",
                     "complete -c sync -f -n '__fish_use_subcommand' -a help -d 'show a command\\'s manual'"]
        for c in Toolkit.commands {
            lines.append("complete -c sync -f -n '__fish_use_subcommand' -a \(c.configuration.commandName!.dropFirst(5)) -d '\(c.configuration.abstract.replacingOccurrences(of: "'", with: "\\'"))'")
        }
        lines.append("complete -c sync -f -n '__fish_seen_subcommand_from help' -a '\(names)'")
        lines.append("complete -c sync -n 'not __fish_use_subcommand; and not __fish_seen_subcommand_from help' -a '(__sync_delegate)'")
        return lines.joined(separator: "\n") + "\n"
    }
}
