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
/// A file up to ``contentsLimit`` that has *settled* — its last change (ctime) lies at least
/// `settledAfter` before the check — also has its bytes kept in memory, and is served from there while
/// later checks find the same size, mtime and ctime: no `pread` per response (~7% of a 100-byte file's
/// HTTP/2 request). A small file's bytes (up to ``bodyLimit``) are kept as an array, sent as a body; a
/// larger one's in its region (``FileRegion/inMemory``), whose bytes go to the socket by reference,
/// never copied within the process (a 1 MiB file over HTTP/2 took ~45% less server CPU at a fixed
/// request rate than with a `pread` per frame; a region for a 100-byte file cost ~6% of its request
/// against an array). Settled is what makes this safe (as Git's "racy" index entries): file timestamps
/// come from a coarse clock, so a file changed twice within one tick could show one ctime for two
/// contents; a change made after a settled check gets a ctime later than the one recorded, and
/// differs. A file changed too lately to tell is read from its descriptor, as before. The bytes kept
/// add up to at most `contentsBudget`; files beyond it are read from their descriptors.
final class OpenFileCache: Sendable {
    struct Entry {
        /// The file with its response fields (and its bytes, if settled), as of its last check.
        var file: StaticFiles.OpenFile
        var device: UInt64
        var inode: UInt64
        var stamp: FileStamp
        /// When the last check (open or stat) that found this file began.
        var checkedAt: Moment
    }

    /// What a lookup finds under the lock.
    private enum Found {
        /// Checked (at the moment given) after the request arrived: this is the file to serve.
        case fresh(StaticFiles.OpenFile, Moment)
        /// To be checked again.
        case stale(Entry)
    }

    /// The entries and the bytes they keep in memory, changed together.
    private struct Entries {
        var byPath: [String: Entry] = [:]
        var keptBytes = 0

        /// Stores `entry` at `path` (replacing what was there), keeping its bytes only within `budget`.
        mutating func store(_ entry: Entry, at path: String, budget: Int) {
            var entry = entry
            let replaced = byPath[path].map(Self.kept) ?? 0
            if keptBytes - replaced + Self.kept(entry) > budget { entry.file = entry.file.fromDisk }
            keptBytes += Self.kept(entry) - replaced
            byPath[path] = entry
        }

        mutating func remove(at path: String) {
            guard let entry = byPath.removeValue(forKey: path) else { return }
            keptBytes -= Self.kept(entry)
        }

        private static func kept(_ entry: Entry) -> Int { entry.file.isKept ? entry.file.size : 0 }
    }

    let capacity: Int
    /// How long before a check a file's last change must lie for its bytes to be kept.
    let settledAfter: Duration
    /// How many bytes of files the cache keeps in memory at most, all entries together.
    let contentsBudget: Int
    private let entries = Locked(Entries())
    /// This cache's key in each thread's ``FreshLookupMemo``: unique for the process's life.
    private let serial: UInt64 = OpenFileCache.serials.withLock { serial in
        serial += 1
        return serial
    }
    private static let serials = Locked<UInt64>(0)

    /// Files up to this size are kept in memory once settled (within `contentsBudget` in all).
    static let contentsLimit = 4 * 1024 * 1024
    /// Kept files up to this size are kept as an array, sent as a response body.
    static let bodyLimit = 16 * 1024

    init(capacity: Int = 64, settledAfter: Duration = .seconds(2), contentsBudget: Int = 64 * 1024 * 1024) {
        self.capacity = capacity
        self.settledAfter = settledAfter
        self.contentsBudget = contentsBudget
    }

    /// The cached file at `relativePath` under `folder` as it was when a request received at
    /// `receivedAt` arrived, or later; nil when the path no longer names it (the stale entry is
    /// dropped) or was never cached.
    func lookup(_ relativePath: String, under folder: Int32, receivedAt: Moment) -> StaticFiles.OpenFile? {
        let memo = FreshLookupMemo.current
        if let file = memo.file(relativePath, in: serial, receivedAt: receivedAt) { return file }
        // A file checked since the request arrived is taken out under the lock, read in place: copying
        // the whole entry out and the file out of it cost a dozen retains and releases.
        let found = entries.withLock { entries -> Found? in
            guard let index = entries.byPath.index(forKey: relativePath) else { return nil }
            let checkedAt = entries.byPath.values[index].checkedAt
            if checkedAt >= receivedAt { return .fresh(entries.byPath.values[index].file, checkedAt) }
            return .stale(entries.byPath.values[index])
        }
        let entry: Entry
        switch found {
        case nil: return nil
        case .fresh(let file, let checkedAt):
            memo.remember(file, at: relativePath, in: serial, checkedAt: checkedAt)
            return file
        case .stale(let stale): entry = stale
        }
        let checkedAt = Moment.now
        var info = stat()
        guard fstatat(folder, relativePath, &info, 0) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              UInt64(info.st_dev) == entry.device, UInt64(info.st_ino) == entry.inode
        else {
            entries.withLock { entries in
                if entries.byPath[relativePath]?.inode == entry.inode { entries.remove(at: relativePath) }
            }
            memo.forget(relativePath, in: serial)
            return nil
        }
        let stamp = FileStamp(info)
        if stamp == entry.stamp && (entry.file.isKept || !mayKeepContents(entry.file, stamp)) {
            entries.withLock { entries in
                guard var current = entries.byPath[relativePath], current.inode == entry.inode, current.checkedAt < checkedAt else { return }
                current.checkedAt = checkedAt
                entries.byPath[relativePath] = current
            }
            memo.remember(entry.file, at: relativePath, in: serial, checkedAt: checkedAt)
            return entry.file
        }
        // Changed in place (this and later requests get the new length, and its fields made once),
        // or settled since: read afresh.
        let file = keepingContents(of: entry.file.resized(to: Int(info.st_size)), stamp: stamp)
        let budget = contentsBudget
        entries.withLock { entries in
            guard var current = entries.byPath[relativePath], current.inode == entry.inode, current.checkedAt < checkedAt else { return }
            current.file = file
            current.stamp = stamp
            current.checkedAt = checkedAt
            entries.store(current, at: relativePath, budget: budget)
        }
        memo.remember(file, at: relativePath, in: serial, checkedAt: checkedAt)
        return file
    }

    /// The file with its bytes kept in memory, if it is small and settled as of `stamp` and the budget
    /// has room, read after the stat that gave it (a change in between has a later ctime, which the
    /// next check sees); else the file as it is.
    func keepingContents(of file: StaticFiles.OpenFile, stamp: FileStamp) -> StaticFiles.OpenFile {
        guard mayKeepContents(file, stamp), entries.withLock({ $0.keptBytes }) + file.size <= contentsBudget else { return file }
        var kept = file
        if file.size <= Self.bodyLimit {
            kept.contents = try? [UInt8](unsafeUninitializedCapacity: file.size) { buffer, count in
                try file.region.read(at: 0, into: UnsafeMutableRawBufferPointer(buffer))
                count = file.size
            }
        } else if let bytes = try? SharedBytes(count: file.size, initializingWith: { try file.region.read(at: 0, into: $0) }) {
            kept.region = file.region.keeping(bytes)
        }
        return kept
    }

    private func mayKeepContents(_ file: StaticFiles.OpenFile, _ stamp: FileStamp) -> Bool {
        file.size <= Self.contentsLimit && stamp.changedBefore(now: FileStamp.realtimeNow(), by: settledAfter)
    }

    /// Remembers a regular file opened (and fstat'ed as `info`) at `relativePath` by a check that
    /// began at `checkedAt`.
    func insert(_ file: StaticFiles.OpenFile, info: stat, at relativePath: String, checkedAt: Moment) {
        let entry = Entry(file: file, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), stamp: FileStamp(info), checkedAt: checkedAt)
        let budget = contentsBudget
        entries.withLock { entries in
            if entries.byPath.count >= capacity, entries.byPath[relativePath] == nil, let victim = entries.byPath.first?.key {
                entries.remove(at: victim)
            }
            entries.store(entry, at: relativePath, budget: budget)
        }
        // This thread's later answers for the path start from this check, never from an older one.
        FreshLookupMemo.current.remember(file, at: relativePath, in: serial, checkedAt: checkedAt)
    }

    /// How many descriptors the cache holds open.
    var count: Int { entries.withLock { $0.byPath.count } }

    /// How many bytes of files the cache keeps in memory.
    var keptBytes: Int { entries.withLock { $0.keptBytes } }
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
