import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// Descriptors of recently served files, reused while their path still names the same file.
///
/// A lookup checks the path again with one `fstatat` — unless a check began after the request was
/// received: then nothing the client did before sending it can be missing from that check, so
/// the requests of one read (an HTTP/2 client's many streams) share it. A file replaced (a new
/// inode) or removed is opened afresh, one changed in place is read as it is now (same descriptor,
/// size from the new stat). So a test server serves what was on disk when each request arrived,
/// for at most one stat instead of openat2 + fstat + close (2.3 µs against 4.8 µs for a 100-byte
/// file on this machine; nghttpd and h2o keep descriptors open the same way, but revalidate only
/// every second or so).
///
/// The stat may follow a symbolic link out of the folder; it is only compared with the cached
/// file's device and inode, and that file was opened inside the folder (RESOLVE_BENEATH), so a hit
/// always serves a file that was reached from inside. Bounded: at most `capacity` descriptors stay
/// open; when full, an arbitrary entry makes room.
///
/// A small file (up to ``contentsLimit``) that has *settled* — its last change (ctime) lies at least
/// `settledAfter` before the check — is also kept in memory, and served from there while later
/// checks find the same size, mtime and ctime: a `pread` per response was ~7% of a 100-byte file's
/// HTTP/2 request. Settled is what makes this safe (as Git's "racy" index entries): file timestamps
/// come from a coarse clock, so a file changed twice within one tick could show one ctime for two
/// contents; a change made after a settled check gets a ctime later than the one recorded, and
/// differs. A file changed too lately to tell is read from its descriptor, as before.
final class OpenFileCache: Sendable {
    struct Entry {
        /// The file with its response fields (and its bytes, if settled), as of its last check.
        var file: StaticFiles.OpenFile
        var device: UInt64
        var inode: UInt64
        var stamp: FileStamp
        /// When the last check (open or stat) that found this file began.
        var checkedAt: ContinuousClock.Instant
    }

    let capacity: Int
    /// How long before a check a file's last change must lie for its bytes to be kept.
    let settledAfter: Duration
    private let entries = Locked<[String: Entry]>([:])

    /// Files up to this size are kept in memory once settled: at most `capacity` times this in all.
    static let contentsLimit = 16 * 1024

    init(capacity: Int = 64, settledAfter: Duration = .seconds(2)) {
        self.capacity = capacity
        self.settledAfter = settledAfter
    }

    /// The cached file at `relativePath` under `folder` as it was when a request received at
    /// `receivedAt` arrived, or later; nil when the path no longer names it (the stale entry is
    /// dropped) or was never cached.
    func lookup(_ relativePath: String, under folder: Int32, receivedAt: ContinuousClock.Instant) -> StaticFiles.OpenFile? {
        guard let entry = entries.withLock({ $0[relativePath] }) else { return nil }
        if entry.checkedAt >= receivedAt { return entry.file }
        let checkedAt = ContinuousClock.now
        var info = stat()
        guard fstatat(folder, relativePath, &info, 0) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              UInt64(info.st_dev) == entry.device, UInt64(info.st_ino) == entry.inode
        else {
            entries.withLock { entries in
                if entries[relativePath]?.inode == entry.inode { entries.removeValue(forKey: relativePath) }
            }
            return nil
        }
        let stamp = FileStamp(info)
        if stamp == entry.stamp && (entry.file.contents != nil || !mayKeepContents(entry.file, stamp)) {
            entries.withLock { entries in
                guard var current = entries[relativePath], current.inode == entry.inode, current.checkedAt < checkedAt else { return }
                current.checkedAt = checkedAt
                entries[relativePath] = current
            }
            return entry.file
        }
        // Changed in place (this and later requests get the new length, and its fields made once),
        // or settled since: read afresh.
        var file = entry.file.resized(to: Int(info.st_size))
        file.contents = contents(of: file, stamp: stamp)
        entries.withLock { entries in
            guard var current = entries[relativePath], current.inode == entry.inode, current.checkedAt < checkedAt else { return }
            current.file = file
            current.stamp = stamp
            current.checkedAt = checkedAt
            entries[relativePath] = current
        }
        return file
    }

    /// The file's bytes, if it is small and settled as of `stamp`, read after the stat that gave it (a
    /// change in between has a later ctime, which the next check sees); nil otherwise.
    func contents(of file: StaticFiles.OpenFile, stamp: FileStamp) -> [UInt8]? {
        guard mayKeepContents(file, stamp) else { return nil }
        let bytes = try? [UInt8](unsafeUninitializedCapacity: file.size) { buffer, count in
            try file.region.read(at: 0, into: UnsafeMutableRawBufferPointer(buffer))
            count = file.size
        }
        return bytes
    }

    private func mayKeepContents(_ file: StaticFiles.OpenFile, _ stamp: FileStamp) -> Bool {
        file.size <= Self.contentsLimit && stamp.changedBefore(now: FileStamp.realtimeNow(), by: settledAfter)
    }

    /// Remembers a regular file opened (and fstat'ed as `info`) at `relativePath` by a check that
    /// began at `checkedAt`.
    func insert(_ file: StaticFiles.OpenFile, info: stat, at relativePath: String, checkedAt: ContinuousClock.Instant) {
        let entry = Entry(file: file, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), stamp: FileStamp(info), checkedAt: checkedAt)
        entries.withLock { entries in
            if entries.count >= capacity, entries[relativePath] == nil, let victim = entries.first?.key {
                entries.removeValue(forKey: victim)
            }
            entries[relativePath] = entry
        }
    }

    /// How many descriptors the cache holds open.
    var count: Int { entries.withLock { $0.count } }
}

/// What a stat says about a file's contents: a change to them moves the size, the mtime or the ctime.
struct FileStamp: Equatable {
    var size: Int
    /// Nanoseconds since the epoch.
    var modified: Int64
    var changed: Int64

    init(_ info: stat) {
        size = Int(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }

    /// The realtime clock (the one file timestamps use), in nanoseconds since the epoch.
    static func realtimeNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Whether the last change lies at least `margin` before `now` (a ctime in the future never does).
    func changedBefore(now: Int64, by margin: Duration) -> Bool {
        let (seconds, attoseconds) = margin.components
        return changed <= now - (seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
