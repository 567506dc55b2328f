import CLibevent
#if canImport(Glibc)
import Glibc
#endif

extension FileRegion {
    /// Regions up to this size are read into the output at once: their bytes then leave in the same
    /// `writev` as the head before them, where a file segment would cost a `sendfile` of its own.
    public static let readIntoOutputLimit = 64 * 1024

    /// Bytes in memory from this many on go to an output by reference: fewer are copied into the room
    /// the output's last chain has left, where a reference would cost a chain (an allocation) of its own.
    public static let referenceMinimum = 4096

    /// Appends the region to a libevent output buffer. A small region, or any region when `sendfile`
    /// is false, is read into the buffer now; a larger one is added as a file segment, which a socket's
    /// output sends with `sendfile` (the bytes never enter this process). The descriptor stays open
    /// until libevent has let go of the segment. Files are never mapped: a file truncated while mapped
    /// would kill the process (SIGBUS) where a short read is an error the connection can answer.
    /// Where it would be read, a region whose bytes are kept in memory is added by reference instead
    /// (a small one copied from memory); `sendfile` still wins where it applies: the kernel then sends
    /// the page cache's pages without copying them (a 1 MiB file over HTTP/1.1 took a third of the
    /// system time a reference to the same bytes in memory took).
    public func append(to output: OpaquePointer, sendfile: Bool) throws {
        if count == 0 { return }
        let readNow = count <= Self.readIntoOutputLimit || !sendfile
        if readNow, let inMemory, count >= Self.referenceMinimum {
            guard inMemory.addReference(to: output, offset: offset, count: count) else { throw FileRegionError(errno: ENOMEM) }
            return
        }
        if readNow {
            var space = iovec(iov_base: nil, iov_len: 0)  // evbuffer_iovec is a macro for it
            guard evbuffer_reserve_space(output, count, &space, 1) == 1, let base = space.iov_base else {
                throw FileRegionError(errno: ENOMEM)
            }
            // Nothing is committed if the read fails.
            try read(at: 0, into: UnsafeMutableRawBufferPointer(start: base, count: count))
            space.iov_len = count
            evbuffer_commit_space(output, &space, 1)
            return
        }
        // Buffers and segments are used from one loop thread only. Should libevent not send it with
        // `sendfile` after all, it reads the segment rather than mapping it — with lseek + read, i.e.
        // through the descriptor's shared position, which a descriptor shared between threads (the
        // static files' cache) could not survive. It does so only for a buffer that does not drain to
        // a socket; callers pass `sendfile: true` only for a socket's output.
        guard let segment = evbuffer_file_segment_new(descriptor, Int64(offset), Int64(count), UInt32(EVBUF_FS_DISABLE_LOCKING | EVBUF_FS_DISABLE_MMAP)) else {
            throw FileRegionError(errno: errno)
        }
        // The buffer takes its own reference; ours goes at the end of this function.
        defer { evbuffer_file_segment_free(segment) }
        let keeper = Unmanaged.passRetained(RegionKeeper(self)).toOpaque()
        evbuffer_file_segment_add_cleanup_cb(segment, { _, _, keeper in
            Unmanaged<RegionKeeper>.fromOpaque(keeper!).release()
        }, keeper)
        guard evbuffer_add_file_segment(output, segment, 0, Int64(count)) == 0 else { throw FileRegionError(errno: errno) }
    }
}

/// Holds a region (and so its descriptor) for as long as libevent holds its segment.
private final class RegionKeeper {
    let region: FileRegion
    init(_ region: FileRegion) { self.region = region }
}
