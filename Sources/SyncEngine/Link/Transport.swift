import Foundation
import SyncCore
import SyncProtocol

/// A byte stream between two nodes: an SSH channel on the dialing side, stdin/stdout in sync-serve.
public protocol Transport: AnyObject {
    /// Up to `max` bytes; an empty result means the other side closed the stream.
    func read(max: Int) throws -> [UInt8]
    func write(_ bytes: [UInt8]) throws
    /// What can be read without waiting: nil when nothing is there now, empty at the end of the stream.
    func readAvailable(max: Int) throws -> [UInt8]?
    /// A descriptor that poll(2) reports readable when more may be there.
    var descriptor: Int32 { get }
}

/// Standard input and output as a transport (the forced-command side).
public final class FileDescriptorTransport: Transport, Sendable {
    let input: Int32, output: Int32
    public init(input: Int32 = 0, output: Int32 = 1) { self.input = input; self.output = output }

    public func read(max: Int) throws -> [UInt8] { try POSIX.read(input, max: max, path: "stdin") }

    public func write(_ bytes: [UInt8]) throws { try POSIX.writeAll(output, bytes, path: "stdout") }

    public func readAvailable(max: Int) throws -> [UInt8]? {
        var p = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return nil }
        return try read(max: max)
    }

    public var descriptor: Int32 { input }
}
