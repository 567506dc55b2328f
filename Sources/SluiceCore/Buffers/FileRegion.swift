#if canImport(Glibc)
import Glibc
#endif

/// A range of an open file, queued as a response body without being read into Swift arrays.
///
/// The connection moves the bytes as it sends them: over plain HTTP/1.1 the kernel copies the file
/// to the socket (`sendfile`), over HTTP/2 each DATA frame is read with `pread` straight into the
/// socket's output. Nothing of the file is held in memory while it waits, so a queued region never
/// makes its writer wait for the queue to drain.
///
/// The region owns its descriptor: it is closed when the last region sharing it is gone (after the
/// connection has sent it, or dropped it with the stream).
///
/// A region may also carry the file's bytes in memory (``inMemory``), when whoever made it vouches that
/// they are still the file's (a cache of settled files): it is then read from memory, and a connection
/// may send those bytes by reference, without reading the file at all.
///
/// ```swift
/// let fd = open(path, O_RDONLY | O_CLOEXEC)
/// var info = stat()
/// fstat(fd, &info)
/// try await body.write(file: FileRegion(takingOwnershipOf: fd, count: Int(info.st_size)))
/// ```
public struct FileRegion: Sendable {
    private let owner: Descriptor
    /// Where the range starts in the file.
    public let offset: Int
    /// How many bytes the range holds.
    public let count: Int
    /// The file's bytes from its start, covering the range, when kept in memory (see ``keeping(_:)``).
    public let inMemory: SharedBytes?

    /// The file's descriptor; valid as long as this region (or a slice of it) exists.
    public var descriptor: Int32 { owner.fd }

    /// `count` bytes of `descriptor` from `offset`; the region closes the descriptor when done.
    public init(takingOwnershipOf descriptor: Int32, offset: Int = 0, count: Int) {
        precondition(offset >= 0 && count >= 0, "a file region needs a non-negative offset and count")
        owner = Descriptor(descriptor)
        self.offset = offset
        self.count = count
        inMemory = nil
    }

    private init(owner: Descriptor, offset: Int, count: Int, inMemory: SharedBytes?) {
        self.owner = owner
        self.offset = offset
        self.count = count
        self.inMemory = inMemory
    }

    /// The same range, read from `bytes` (the file's bytes from its start) from now on: for a caller
    /// that knows they are the file's as it is (the bytes must cover the range).
    public func keeping(_ bytes: SharedBytes) -> FileRegion {
        precondition(offset + count <= bytes.count, "kept bytes must cover the file region")
        return FileRegion(owner: owner, offset: offset, count: count, inMemory: bytes)
    }

    /// The same range, read from the file: without the bytes kept in memory.
    public var fromDisk: FileRegion { FileRegion(owner: owner, offset: offset, count: count, inMemory: nil) }

    /// The region without its first `skipped` bytes, sharing the descriptor (and the bytes in memory).
    public func dropFirst(_ skipped: Int) -> FileRegion {
        let n = min(max(skipped, 0), count)
        return FileRegion(owner: owner, offset: offset + n, count: count - n, inMemory: inMemory)
    }

    /// The region's first `kept` bytes, sharing the descriptor (and the bytes in memory).
    public func prefix(_ kept: Int) -> FileRegion {
        FileRegion(owner: owner, offset: offset, count: min(max(kept, 0), count), inMemory: inMemory)
    }

    /// The range from the same offset, `count` bytes long, sharing the descriptor: for a file that
    /// has grown or shrunk since the region was made (a cache of open files hands out regions sized
    /// by a fresh `stat`). Read from the file: bytes kept in memory are no longer the file's.
    public func resized(to count: Int) -> FileRegion {
        precondition(count >= 0, "a file region needs a non-negative count")
        return FileRegion(owner: owner, offset: offset, count: count, inMemory: nil)
    }

    /// Reads `buffer.count` bytes from `position` bytes into the region, or throws: a file that ends
    /// early (truncated since it was opened) is an error, since the peer was promised its length.
    public func read(at position: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(position >= 0 && position + buffer.count <= count, "read outside the file region")
        if let inMemory {
            if !buffer.isEmpty { buffer.baseAddress!.copyMemory(from: inMemory.base + offset + position, byteCount: buffer.count) }
            return
        }
        var done = 0
        while done < buffer.count {
            let n = pread(owner.fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + position + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FileRegionError(errno: n < 0 ? errno : 0) }
            done += n
        }
    }

    private final class Descriptor: Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }
}

/// A file region could not be read whole: `errno` is the read's error, or 0 when the file ended early.
public struct FileRegionError: Error, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var description: String {
        errno == 0 ? "file region: the file ended before the region did" : "file region: read failed (errno \(errno))"
    }
}
