import Foundation
import Testing
@testable import SyncCore
import SyncTestSupport

/// The one wrapper of read(2) and write(2).
@Suite(.serialized) struct POSIXTests {
    @Test func aReadInterruptedByASignalGoesOn() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        // A handler without SA_RESTART: the blocked read(2) returns EINTR when the alarm comes.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        var old = sigaction()
        sigaction(SIGALRM, &action, &old)
        defer { sigaction(SIGALRM, &old, nil) }
        let (readFD, writer) = (fds[0], fds[1])
        // A thread of its own blocks in read(2), with SIGALRM unblocked; the signal goes to it,
        // and the data comes after the signal.
        final class Box: @unchecked Sendable { var thread: pthread_t?; var got: Result<[UInt8], Error>? }
        let box = Box()
        let started = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGALRM)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            box.thread = pthread_self()
            started.signal()
            box.got = Result { try POSIX.read(readFD, max: 64, path: "pipe") }
            done.signal()
        }.start()
        started.wait()
        usleep(100_000)
        pthread_kill(box.thread!, SIGALRM)
        usleep(200_000)
        try POSIX.writeAll(writer, Array("after the signal".utf8), path: "pipe")
        done.wait()
        #expect(try String(decoding: box.got!.get(), as: UTF8.self) == "after the signal")
    }

    @Test func aWriteGoesWholeAndAFailureNamesThePath() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let big = [UInt8](repeating: 7, count: 1 << 20) // more than a pipe holds: many partial writes
        let reader = fds[0]
        final class Box: @unchecked Sendable { var count = 0 }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread {
            while let piece = try? POSIX.read(reader, max: 65536, path: "pipe"), !piece.isEmpty { box.count += piece.count }
            done.signal()
        }.start()
        try POSIX.writeAll(fds[1], big, path: "pipe")
        close(fds[1])
        done.wait()
        close(fds[0])
        #expect(box.count == big.count)
        #expect(throws: SyncError.io(path: "closed", operation: "write", errno: EBADF)) { try POSIX.writeAll(-1, [1], path: "closed") }
    }

    @Test func aDescriptorClosesWhenItsScopeEndsAndNotBefore() throws {
        var number: Int32 = -1
        do {
            let fd = try Descriptor(opening: "/dev/null", O_RDONLY)
            number = fd.raw
            #expect(fcntl(number, F_GETFD) >= 0)
            // Still open after its last use, until the scope ends (no early release).
            var st = stat()
            #expect(fstat(number, &st) == 0)
        }
        #expect(fcntl(number, F_GETFD) == -1 && errno == EBADF)
        let taken = try Descriptor(opening: "/dev/null", O_RDONLY).take()
        #expect(fcntl(taken, F_GETFD) >= 0)
        close(taken)
        #expect(throws: SyncError.io(path: "/nonexistent/x", operation: "open", errno: ENOENT)) {
            _ = try Descriptor(opening: "/nonexistent/x", O_RDONLY)
        }
    }

    @Test func aLineReaderGivesEachLineAsItComesAndALastLineWithoutNewline() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var lines = LineReader(fds[0], what: "pipe")
        try POSIX.writeAll(fds[1], Array("one\ntw".utf8), path: "pipe")
        #expect(try lines.next() == "one")
        try POSIX.writeAll(fds[1], Array("o\n\nthree".utf8), path: "pipe")
        #expect(try lines.next() == "two")
        #expect(try lines.next() == "")
        close(fds[1])
        #expect(try lines.next() == "three")
        #expect(try lines.next() == nil)
    }

    /// Blocks of zeros become holes, whatever the pieces the bytes come in; a hole at the end
    /// still counts in the length; the content reads back the same.
    @Test func sparseWritesLeaveHolesAndKeepTheContent() throws {
        let dir = try TemporaryDirectory()
        var rng = SplitMix(7)
        // 5,000 bytes of data, 8 MiB of zeros, 10 bytes, 1 MiB of zeros at the end.
        var content = (0..<5000).map { _ in UInt8.random(in: 1...255, using: &rng) }
        content += [UInt8](repeating: 0, count: 8 << 20)
        content += (0..<10).map { _ in UInt8.random(in: 1...255, using: &rng) }
        content += [UInt8](repeating: 0, count: 1 << 20)
        for piece in [4096, 1000, 65536, 300_001] {
            let path = dir.path + "/f\(piece)"
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            #expect(fd >= 0)
            var i = 0
            while i < content.count {
                let j = min(i + piece, content.count)
                try content[i..<j].withUnsafeBytes { try POSIX.writeSparse(fd, $0, path: path) }
                i = j
            }
            try POSIX.endSparse(fd, path: path)
            var st = stat()
            fstat(fd, &st)
            close(fd)
            #expect(Int(st.st_size) == content.count)
            #expect(Int(st.st_blocks) * 512 <= 64 << 10, "\(piece)-byte pieces: \(st.st_blocks * 512) bytes allocated")
            #expect(FileManager.default.contents(atPath: path) == Data(content), "\(piece)-byte pieces")
        }
        // Told where it stands (no seek to find it), from an offset not on a block edge: the same
        // file, and it says when the length is still to be set (zeros skipped last).
        for piece in [4096, 1000, 65536, 300_001] {
            let path = dir.path + "/at\(piece)"
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            #expect(fd >= 0)
            _ = [UInt8](repeating: 9, count: 777).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            var i = 0
            var holeAtEnd = false
            while i < content.count {
                let j = min(i + piece, content.count)
                holeAtEnd = try content[i..<j].withUnsafeBytes { try POSIX.writeSparse(fd, $0, at: 777 + i, path: path) }
                // Zeros skipped last exactly when the file is shorter than where it stands.
                let at = lseek(fd, 0, SEEK_CUR), size = lseek(fd, 0, SEEK_END)
                #expect(at == off_t(777 + j))
                #expect(holeAtEnd == (at > size))
                lseek(fd, at, SEEK_SET)
                i = j
            }
            #expect(holeAtEnd)
            try POSIX.endSparse(fd, path: path)
            close(fd)
            #expect(FileManager.default.contents(atPath: path) == Data([UInt8](repeating: 9, count: 777) + content), "\(piece)-byte pieces")
        }
    }
}
