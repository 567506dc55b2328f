import Foundation
import SluiceCore
import Testing
@testable import Sluice

/// The per-thread memo of the last fresh static-file lookup answers only what the cache itself would
/// answer: the same path of the same cache, for a request received no later than the check.
@Suite struct FreshLookupMemoTests {
    private static func file(_ path: String, _ text: String) throws -> StaticFiles.OpenFile {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure("open \(path) failed") }
        return StaticFiles.OpenFile(region: FileRegion(takingOwnershipOf: fd, count: text.utf8.count), name: path)
    }

    @Test func answersOnlyItsPathOfItsCacheForRequestsReceivedBeforeItsCheck() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-memo-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = Moment.now
        let checkedAt = Moment.now
        let after = Moment.now
        let memo = FreshLookupMemo()
        #expect(memo.file("a.txt", in: 1, receivedAt: before) == nil)  // nothing remembered yet
        memo.remember(try Self.file(root + "/a.txt", "aaa"), at: "a.txt", in: 1, checkedAt: checkedAt)
        #expect(memo.file("a.txt", in: 1, receivedAt: before)?.size == 3)
        #expect(memo.file("a.txt", in: 1, receivedAt: checkedAt)?.size == 3)
        #expect(memo.file("a.txt", in: 1, receivedAt: after) == nil)  // arrived after the check: check again
        #expect(memo.file("a.txt", in: 2, receivedAt: before) == nil)  // another cache
        #expect(memo.file("b.txt", in: 1, receivedAt: before) == nil)  // another path
        memo.forget("b.txt", in: 1)  // not what it holds: kept
        memo.forget("a.txt", in: 2)
        #expect(memo.file("a.txt", in: 1, receivedAt: before)?.size == 3)
        memo.forget("a.txt", in: 1)  // the path no longer names the file
        #expect(memo.file("a.txt", in: 1, receivedAt: before) == nil)
    }

    /// Two folders holding the same relative path, looked up in turn on one thread with a request
    /// received before every check: each answers its own file, never the other's memo.
    @Test func twoCachesWithTheSamePathKeepTheirOwnFiles() throws {
        let one = try StaticFilesTests.makeRoot().root
        let two = try StaticFilesTests.makeRoot().root
        defer {
            try? FileManager.default.removeItem(atPath: one)
            try? FileManager.default.removeItem(atPath: two)
        }
        try "one".write(toFile: one + "/public/same.txt", atomically: true, encoding: .utf8)
        try "second".write(toFile: two + "/public/same.txt", atomically: true, encoding: .utf8)
        let first = try #require(StaticFiles(directory: one + "/public"))
        let second = try #require(StaticFiles(directory: two + "/public"))
        let received = Moment.now
        for _ in 0..<3 {
            #expect(try first.open("/same.txt", receivedAt: received).size == 3)
            #expect(try second.open("/same.txt", receivedAt: received).size == 6)
        }
    }

    /// A file replaced after the memo's check: a request received before that check still gets the
    /// file the check found (as from the cache), one received after it the new file — on this thread,
    /// whose memo holds the old file, and on another, whose memo does not.
    @Test func aReplacedFileIsSeenByLaterRequestsOnEveryThread() async throws {
        let (root, files) = try StaticFilesTests.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let css = root + "/public/sub/app.css"
        let received = Moment.now
        #expect(try files.open("/sub/app.css", receivedAt: received).size == 6)
        #expect(try files.open("/sub/app.css", receivedAt: received).size == 6)  // from the memo
        try "h1{}".write(toFile: css, atomically: true, encoding: .utf8)
        #expect(try files.open("/sub/app.css", receivedAt: received).size == 6)
        let later = Moment.now
        #expect(try files.open("/sub/app.css", receivedAt: later).size == 4)
        let elsewhere = try await blocking { try files.open("/sub/app.css", receivedAt: Moment.now).size }
        #expect(elsewhere == 4)
        try "main{}x".write(toFile: css, atomically: true, encoding: .utf8)
        #expect(try files.open("/sub/app.css", receivedAt: Moment.now).size == 7)
    }
}
