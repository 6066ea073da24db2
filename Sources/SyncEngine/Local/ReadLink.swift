import Foundation
import SyncCore
import SyncGit

func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink(path, &buf, buf.count - 1)
    guard n >= 0 else { return nil }
    return String(validating: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
