#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex.
///
/// Chosen over `Synchronization.Mutex` because ThreadSanitizer reported races inside
/// `Mutex.withLock` (see INTEROP.md) and a pthread mutex gave none. The mutex lives in the tail of
/// one heap object (a `ManagedBuffer`, whose element storage never moves), so a lock is one
/// allocation, not an object plus a separately allocated mutex: an HTTP/2 request makes two. Not a
/// `Locked<Void>`: ThreadSanitizer reports the empty value's inout access, at the object's first
/// byte, as a race with the object's header read (85 reports in one run).
///
/// ```swift
/// let lock = Lock()
/// lock.withLock { counter += 1 }
/// ```
public struct Lock: @unchecked Sendable {
    @usableFromInline
    final class Storage: ManagedBuffer<Void, pthread_mutex_t> {
        deinit {
            withUnsafeMutablePointerToElements { mutex in
                pthread_mutex_destroy(mutex)
                mutex.deinitialize(count: 1)
            }
        }
    }

    @usableFromInline
    let storage: Storage

    public init() {
        let buffer = Storage.create(minimumCapacity: 1) { buffer in
            buffer.withUnsafeMutablePointerToElements { mutex in
                mutex.initialize(to: pthread_mutex_t())
                pthread_mutex_init(mutex, nil)
            }
        }
        storage = unsafeDowncast(buffer, to: Storage.self)
    }

    // Inlinable, so that other modules' calls are specialized for their value and result: through
    // the generic entry point every copy in and out went through value witnesses (a static file's
    // cache lookup spent more there than in its dictionary).
    @inlinable @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try storage.withUnsafeMutablePointerToElements { mutex in
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body()
        }
    }
}

/// A value guarded by a pthread mutex, both in one heap object (the value in a `ManagedBuffer`'s
/// header, the mutex in its tail, whose storage never moves): one allocation, where an object plus a
/// separately allocated mutex took two (an HTTP/2 request makes several). Copies share the value, as a
/// class would.
///
/// The value is reached through the buffer's pointer, so a critical section costs no runtime
/// exclusivity check, where a class's stored property cost one per access (`swift_beginAccess`, a
/// few percent of a small HTTP/2 request before the queues' state moved here).
///
/// ```swift
/// let hits = Locked(0)
/// hits.withLock { $0 += 1 }
/// ```
public struct Locked<Value>: @unchecked Sendable {
    @usableFromInline
    final class Storage: ManagedBuffer<Value, pthread_mutex_t> {
        deinit {
            withUnsafeMutablePointers { _, mutex in
                pthread_mutex_destroy(mutex)
                mutex.deinitialize(count: 1)
            }
        }
    }

    @usableFromInline
    let storage: Storage

    public init(_ value: Value) {
        let buffer = Storage.create(minimumCapacity: 1) { buffer in
            buffer.withUnsafeMutablePointerToElements { mutex in
                mutex.initialize(to: pthread_mutex_t())
                pthread_mutex_init(mutex, nil)
            }
            return value
        }
        storage = unsafeDowncast(buffer, to: Storage.self)
    }

    // Inlinable for the same reason as `Lock.withLock`.
    @inlinable @inline(__always)
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try storage.withUnsafeMutablePointers { value, mutex in
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value.pointee)
        }
    }
}
