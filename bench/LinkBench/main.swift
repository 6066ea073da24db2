// sync-linkbench: both ends of bench/link. Frames of content move through the same Link and
// libssh2 connection a pull uses, with nothing else on either side (no disk, no index).
//
//   sync-linkbench sink              reads data frames until an end, answers with an end
//   sync-linkbench source BYTES      sends BYTES in data frames, then an end
//   sync-linkbench dial HOST PORT USER KEY up|down BYTES COMMAND
//                                    runs COMMAND (one of the above) over SSH and moves BYTES;
//                                    prints seconds and MiB/s
import Foundation
import SyncEngine
import SyncProtocol
import SyncSSH

extension SSHConnection: Transport {}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("sync-linkbench: \(text)\n".utf8))
    exit(1)
}

/// Sends `total` bytes as data frames of the size a pull's content uses.
func send(_ total: Int, on link: Link) throws {
    let chunk = [UInt8](repeating: 0x5a, count: Frame.chunkSize)
    var left = total
    while left > 0 {
        let n = min(left, chunk.count)
        try link.send(.data(id: 1, n == chunk.count ? chunk : Array(chunk.prefix(n))))
        left -= n
    }
    try link.send(.end(id: 1))
}

/// Receives data frames until an end; returns their bytes.
func drain(_ link: Link) throws -> Int {
    var total = 0
    while true {
        switch try link.receive() {
        case .data(_, let bytes): total += bytes.count
        case .end: return total
        default: fail("unexpected message")
        }
    }
}

let args = CommandLine.arguments.dropFirst()
do {
    switch args.first {
    case "sink":
        let link = Link(FileDescriptorTransport())
        _ = try drain(link)
        try link.send(.end(id: 1))
    case "source":
        guard let n = args.dropFirst().first.flatMap({ Int($0) }) else { fail("source BYTES") }
        try send(n, on: Link(FileDescriptorTransport()))
    case "dial":
        let a = Array(args.dropFirst())
        guard a.count == 7, let port = Int(a[1]), let bytes = Int(a[5]), a[4] == "up" || a[4] == "down" else {
            fail("dial HOST PORT USER KEY up|down BYTES COMMAND")
        }
        let connection = try SSHConnection(host: a[0], port: port) { _ in }
        try connection.authenticate(user: a[2], privateKey: a[3], publicKey: a[3] + ".pub")
        try connection.exec(a[6])
        let link = Link(connection)
        let start = Date()
        if a[4] == "up" {
            try send(bytes, on: link)
            guard case .end = try link.receive() else { fail("no end from the sink") }
        } else {
            let got = try drain(link)
            guard got == bytes else { fail("received \(got) bytes, not \(bytes)") }
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "%.3f %.1f", seconds, Double(bytes) / seconds / 1048576))
        connection.finish()
    default:
        fail("sink | source BYTES | dial HOST PORT USER KEY up|down BYTES COMMAND")
    }
} catch {
    fail("\(error)")
}
