import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// The last file an ``OpenFileCache`` gave this thread, with the moment of the check that found it,
/// kept by the thread itself.
///
/// A fresh answer is one whose check began after the request arrived. That fact holds for any later
/// request received no later than the check, whichever thread asks: so the requests of one read (an
/// HTTP/2 client's many streams to one path, all handled on the loop that read them) can take it
/// from here without the cache's lock, its hashing and the copy out of its dictionary (those were ~4%
/// of a 100-byte HTTP/2 request). Nothing needs invalidating: a request received after the check
/// misses, and the cache checks again. Keyed by the cache's serial number (never reused, unlike an
/// address) and the relative path.
///
/// Every answer the cache gives a thread for a path goes through its memo — remembered when it comes
/// from a check or the cache, forgotten when the path no longer names the file — so the answers one
/// thread (one loop, one connection's requests) gives never go back to an older check.
///
/// The memo keeps its file (and so one descriptor) until the thread's next lookup of another path
/// replaces it, or the thread ends.
final class FreshLookupMemo {
    private var cache: UInt64 = 0
    private var path = ""
    private var checkedAt = Moment(ContinuousClock.now)
    private var kept: StaticFiles.OpenFile?

    /// The memo's file if it is `path` of cache `cache`, found by a check that began at or after `receivedAt`.
    @inline(__always)
    func file(_ path: String, in cache: UInt64, receivedAt: Moment) -> StaticFiles.OpenFile? {
        guard self.cache == cache, checkedAt >= receivedAt, self.path == path else { return nil }
        return kept
    }

    func remember(_ file: StaticFiles.OpenFile, at path: String, in cache: UInt64, checkedAt: Moment) {
        self.cache = cache
        self.path = path
        self.checkedAt = checkedAt
        kept = file
    }

    func forget(_ path: String, in cache: UInt64) {
        guard self.cache == cache, self.path == path else { return }
        self.cache = 0
        self.path = ""
        kept = nil
    }

    /// This thread's memo, made on first use and released when the thread ends.
    static var current: FreshLookupMemo {
        if let raw = pthread_getspecific(key) { return Unmanaged<FreshLookupMemo>.fromOpaque(raw).takeUnretainedValue() }
        let memo = FreshLookupMemo()
        pthread_setspecific(key, Unmanaged.passRetained(memo).toOpaque())
        return memo
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<FreshLookupMemo>.fromOpaque(raw).release() }
        }
        precondition(created == 0, "pthread_key_create failed")
        return key
    }()
}
