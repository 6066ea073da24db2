import Foundation
import Testing
@testable import SyncCore

/// Directories kept open for a batch: walked to once, never through a link, dropped when told.
@Suite struct DirectoryCacheTests {
    /// What the descriptor `fd` of this process names now (nil: not open). Other tests run
    /// beside these and open descriptors too, so a closed one is told by what it names, not by a count.
    static func names(_ fd: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")
    }

    @Test func aDirectoryIsWalkedToOnceAndItsDescriptorIsLent() throws {
        let dir = try TemporaryDirectory()
        let cache = DirectoryCache()
        let path = try RelativePath("a/b/c")
        do { _ = try Beneath.directory(path, in: dir.path, create: true, cache: cache) }
        #expect(cache.count == 1)
        // Held: removing the walk's way there (a, a/b renamed away) does not stop a lookup, which
        // names the same directory as before.
        #expect(rename(dir.path + "/a", dir.path + "/moved") == 0)
        let kept = try #require(cache.descriptor("a/b/c"))
        do {
            let held = try Beneath.directory(path, in: dir.path, cache: cache)
            var st = stat()
            #expect(fstatat(held.raw, ".", &st, 0) == 0)
            var there = stat()
            #expect(stat(dir.path + "/moved/b/c", &there) == 0)
            #expect(st.st_ino == there.st_ino)
            // Lent, not copied: no descriptor made for a lookup.
            #expect(held.raw == kept)
        }
        // The borrower's end leaves it open.
        #expect(Self.names(kept) == dir.path + "/moved/b/c")
        // Forgotten, it is walked to again: gone now. What was lent stays open until `settle`.
        cache.forget(try RelativePath("a/b"))
        #expect(cache.count == 0 && cache.waiting == 1)
        #expect(Self.names(kept) == dir.path + "/moved/b/c")
        cache.settle()
        #expect(cache.waiting == 0)
        #expect(Self.names(kept) != dir.path + "/moved/b/c")
        #expect(throws: SyncError.self) { _ = try Beneath.directory(path, in: dir.path, cache: cache) }
    }

    /// A caller that holds a lent directory while the cache drops it (its limit reached by the
    /// walks the caller makes meanwhile) keeps a descriptor that names that directory, not one
    /// closed under it (whose number the next open would reuse for some other directory).
    @Test func aLentDirectoryStaysOpenUntilTheOwnerSettles() throws {
        let dir = try TemporaryDirectory()
        let cache = DirectoryCache(limit: 2)
        let first = try Beneath.directory(try RelativePath("x/first"), in: dir.path, create: true, cache: cache)
        for i in 0..<10 { _ = try Beneath.directory(try RelativePath("y\(i)"), in: dir.path, create: true, cache: cache) }
        #expect(cache.count == 2 && cache.descriptor("x/first") == nil)
        #expect(Self.names(first.raw) == dir.path + "/x/first")
        #expect(mkdirat(first.raw, "made-through-it", 0o755) == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/x/first/made-through-it"))
        #expect(cache.waiting == 9)
        cache.settle()
        #expect(Self.names(first.raw) != dir.path + "/x/first")
    }

    @Test func aLinkPutOnTheWayIsRefusedOnceTheCacheForgetsIt() throws {
        let dir = try TemporaryDirectory()
        let outside = try TemporaryDirectory()
        #expect(mkdir(outside.path + "/b", 0o755) == 0)
        let cache = DirectoryCache()
        do { _ = try Beneath.directory(try RelativePath("a/b"), in: dir.path, create: true, cache: cache) }
        // "a" becomes a link to somewhere else; the walk from the root (its directory forgotten)
        // refuses it, and a walk that starts from a held directory never passes it.
        #expect(rename(dir.path + "/a", dir.path + "/old") == 0)
        #expect(symlink(outside.path, dir.path + "/a") == 0)
        cache.forget(try RelativePath("a"))
        #expect(throws: SyncError.self) { _ = try Beneath.directory(try RelativePath("a/b"), in: dir.path, cache: cache) }
        #expect(throws: SyncError.self) { _ = try Beneath.directory(try RelativePath("a/b/c"), in: dir.path, create: true, cache: cache) }
        #expect(!FileManager.default.fileExists(atPath: outside.path + "/b/c"))
    }

    @Test func theCacheHoldsAtMostItsLimitAndClosesWhatItDrops() throws {
        let dir = try TemporaryDirectory()
        var last: Int32 = -1
        do {
            let cache = DirectoryCache(limit: 8)
            for i in 0..<40 { _ = try Beneath.directory(try RelativePath("d\(i)/e"), in: dir.path, create: true, cache: cache) }
            #expect(cache.count == 8)
            // Those dropped wait for `settle`.
            #expect(cache.waiting == 32)
            cache.settle()
            #expect(cache.waiting == 0)
            let first = try #require(cache.descriptor("d32/e"))
            #expect(cache.descriptor("d31/e") == nil)
            #expect(Self.names(first) == dir.path + "/d32/e")
            // A walk starts from the deepest held directory of its path: d39/e/f is one step.
            _ = try Beneath.directory(try RelativePath("d39/e/f"), in: dir.path, create: true, cache: cache)
            #expect(cache.count == 8)
            cache.forget(nil)
            #expect(cache.count == 0)
            cache.settle()
            #expect(Self.names(first) != dir.path + "/d32/e")
            _ = try Beneath.directory(nil, in: dir.path, cache: cache)
            #expect(cache.count == 1)
            last = try #require(cache.descriptor(""))
            #expect(Self.names(last) == dir.path)
        }
        // Closed with the cache.
        #expect(Self.names(last) != dir.path)
    }
}
