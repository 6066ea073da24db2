// Every module a target imports is one it declares in Package.swift (directly): SwiftPM on Linux
// builds an undeclared import of a sibling target as long as something else pulls it in.
//
//   swift package dump-package > package.json && swift .ci/check-imports.swift package.json
//
// Prints each undeclared import as `Sources/X/File.swift: imports M, which X does not declare`
// and exits 1 when there is any.
import Foundation

let system: Set<String> = ["Foundation", "FoundationEssentials", "Glibc", "Dispatch", "Testing", "XCTest", "Darwin", "PackageDescription", "Synchronization", "_Concurrency", "Swift"]
/// Products of package dependencies, by the module they provide.
let products: [String: String] = ["GRDB": "GRDB", "Crypto": "Crypto", "Logging": "Logging", "ArgumentParser": "ArgumentParser"]

guard CommandLine.arguments.count == 2, let data = FileManager.default.contents(atPath: CommandLine.arguments[1]),
      let package = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let targets = package["targets"] as? [[String: Any]] else {
    FileHandle.standardError.write(Data("usage: check-imports.swift PACKAGE-JSON (from swift package dump-package)\n".utf8))
    exit(2)
}

var problems = 0
for t in targets {
    guard let name = t["name"] as? String, let type = t["type"] as? String, type != "system" else { continue }
    var declared: Set<String> = [name]
    for d in t["dependencies"] as? [[String: Any]] ?? [] {
        if let byName = d["byName"] as? [Any], let n = byName.first as? String { declared.insert(n) }
        if let target = d["target"] as? [Any], let n = target.first as? String { declared.insert(n) }
        if let product = d["product"] as? [Any], let n = product.first as? String { declared.insert(products[n] ?? n) }
    }
    let dir = t["path"] as? String ?? ((type == "test" ? "Tests/" : "Sources/") + name)
    guard let files = FileManager.default.enumerator(atPath: dir) else { continue }
    for case let file as String in files where file.hasSuffix(".swift") {
        let path = dir + "/" + file
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") {
            var words = line.split(separator: " ").map(String.init)
            while let w = words.first, w.hasPrefix("@") || ["public", "internal", "private", "fileprivate", "package"].contains(w) { words.removeFirst() }
            guard words.count >= 2, words[0] == "import" else { continue }
            let module = String(words[words.count - 1].split(separator: ".")[0])
            if system.contains(module) || declared.contains(module) { continue }
            print("\(path): imports \(module), which \(name) does not declare")
            problems += 1
        }
    }
}
exit(problems == 0 ? 0 : 1)
