import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// Reads a plain-socket bufferevent's input with a read event of its own instead of libevent's.
///
/// libevent 2.1 reads a socket in `evbuffer_read`, which asks the kernel how much is waiting
/// (`ioctl(FIONREAD)`) before every read and then reads at most 4 KiB (settable only from libevent
/// 2.2 on): one syscall more for every small message, and 256 reads for every MiB of a large body.
/// ReadThrough reads straight into the bufferevent's input, 16 KiB and then 64 KiB at a time for as
/// long as the socket fills what it is given (up to ``BuffereventTuning/maxSingleIO`` a turn), and
/// then runs the bufferevent's own callbacks (`bufferevent_trigger`, `bufferevent_trigger_event`),
/// so the code that parses the input does not change. A read high watermark set on the bufferevent
/// (`bufferevent_setwatermark`) still holds: reading stops there, and starts again once the input is
/// drained below it — which is how HTTP/1.1 stops reading a peer whose handler is behind.
///
/// TLS bufferevents are left to libevent: OpenSSL reads their socket. The bufferevent's own reading
/// stays disabled (see ``WriteThrough/start(_:)``).
///
/// ```swift
/// let reads = ReadThrough(bev)    // a plain socket's bufferevent, with its fd already set
/// reads.start()
/// // ... the bufferevent's read callback sees the bytes, its event callback EOF and errors
/// reads.close()                   // before bufferevent_free(bev)
/// ```
public final class ReadThrough {
    private let bev: OpaquePointer
    private var event: OpaquePointer?
    private var drainWatch: OpaquePointer?
    /// Started and not stopped.
    private var wanted = false
    /// The read event is added.
    private var armed = false
    /// Stopped at the high watermark; the input's drain callback starts it again.
    private var full = false
    /// EOF or an error was reported: nothing more to read.
    private var finished = false

    /// The first read of a turn: small, since most reads are a request or a message.
    static let firstRead = 16 * 1024
    /// The reads after one that filled its room: the peer is sending a body.
    static let laterRead = 64 * 1024

    public init(_ bev: OpaquePointer) {
        self.bev = bev
        let context = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(bufferevent_get_base(bev), bufferevent_getfd(bev), Int16(EV_READ | EV_PERSIST), { _, _, context in
            // The callbacks this runs may drop the last reference to the reader (a hand-off, a close).
            let reader = Unmanaged<ReadThrough>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(reader) { reader.readable() }
        }, context)
        drainWatch = evbuffer_add_cb(bufferevent_get_input(bev), { _, info, context in
            guard let info, info.pointee.n_deleted > 0 else { return }
            Unmanaged<ReadThrough>.fromOpaque(context!).takeUnretainedValue().drained()
        }, context)
        // Watching only while stopped at the high watermark (see `watchDrains`).
        watchDrains(false)
    }

    /// Frees the read event only: by now ``close()`` has let go of the bufferevent.
    deinit {
        if let event { event_free(event) }
    }

    /// Starts (or resumes) reading. Loop thread.
    public func start() {
        wanted = true
        arm()
    }

    /// Stops reading until ``start()``. Loop thread.
    public func stop() {
        wanted = false
        disarm()
    }

    /// Stops for good and lets go of the bufferevent; call it before `bufferevent_free`. Loop thread.
    public func close() {
        stop()
        finished = true
        if let drainWatch {
            evbuffer_remove_cb_entry(bufferevent_get_input(bev), drainWatch)
            self.drainWatch = nil
        }
        if let event {
            event_free(event)
            self.event = nil
        }
    }

    private func arm() {
        guard wanted, !full, !finished, !armed, let event else { return }
        armed = event_add(event, nil) == 0
    }

    private func disarm() {
        guard armed, let event else { return }
        event_del(event)
        armed = false
    }

    /// Reads what the socket holds (within the turn's limit and the high watermark), then runs the
    /// bufferevent's callbacks.
    private func readable() {
        guard !finished, let input = bufferevent_get_input(bev) else { return }
        let fd = bufferevent_getfd(bev)
        var high = 0
        bufferevent_getwatermark(bev, Int16(EV_READ), nil, &high)
        var total = 0
        var room = Self.firstRead
        var outcome = Int16(0)
        while total < BuffereventTuning.maxSingleIO {
            if high > 0 {
                let waiting = evbuffer_get_length(input)
                if waiting >= high {
                    full = true
                    disarm()
                    watchDrains(true)
                    break
                }
                room = min(room, high - waiting)
            }
            // A socket bufferevent keeps its input's end frozen so only its own read adds to it; its
            // read callback thaws it around the read, and so does this.
            evbuffer_unfreeze(input, 0)
            let got = Self.read(fd, into: input, upTo: room)
            evbuffer_freeze(input, 0)
            if got > 0 {
                total += got
                if got < room { break }  // the socket is empty for now
                room = Self.laterRead
            } else if got == 0 {
                outcome = Int16(BEV_EVENT_EOF | BEV_EVENT_READING)
                break
            } else {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { break }
                outcome = Int16(BEV_EVENT_ERROR | BEV_EVENT_READING)
                break
            }
        }
        let error = errno
        if outcome != 0 {
            finished = true
            disarm()
        }
        // The read callback may free the bufferevent (its owner closing): held until both have run.
        bufferevent_incref(bev)
        defer { bufferevent_decref(bev) }
        // Bytes read before the end are delivered before it, as libevent does.
        if total > 0 { bufferevent_trigger(bev, Int16(EV_READ), 0) }
        if outcome != 0 {
            errno = error
            bufferevent_trigger_event(bev, outcome, 0)
        }
    }

    /// One `readv` into room reserved at the input's end: its return value, with what it read committed.
    private static func read(_ fd: Int32, into input: OpaquePointer, upTo room: Int) -> Int {
        var vectors = (iovec(), iovec())  // evbuffer_iovec is a macro for iovec
        return withUnsafeMutableBytes(of: &vectors) { raw -> Int in
            let vector = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
            let count = Int(evbuffer_reserve_space(input, room, vector, 2))
            guard count > 0 else {
                errno = ENOMEM
                return -1
            }
            // The extents may hold more than asked for: the read takes no more than `room` (the high
            // watermark counts on it).
            let used = trim(vector, count, to: room)
            let got = readv(fd, vector, Int32(used))
            guard got > 0 else { return got }
            // Only the vectors the read reached are committed, each with what it got.
            evbuffer_commit_space(input, vector, Int32(trim(vector, used, to: got)))
            return got
        }
    }

    /// Shortens the first `count` vectors to hold `limit` bytes in all; returns how many hold any.
    private static func trim(_ vector: UnsafeMutablePointer<iovec>, _ count: Int, to limit: Int) -> Int {
        var left = limit
        var used = 0
        while used < count && left > 0 {
            vector[used].iov_len = min(vector[used].iov_len, left)
            left -= vector[used].iov_len
            used += 1
        }
        return used
    }

    /// The input lost bytes: if reading stopped at the high watermark and the input is below it now,
    /// read again.
    private func drained() {
        guard full else { return }
        var high = 0
        bufferevent_getwatermark(bev, Int16(EV_READ), nil, &high)
        guard high == 0 || evbuffer_get_length(bufferevent_get_input(bev)) < high else { return }
        full = false
        watchDrains(false)
        arm()
    }

    private func watchDrains(_ on: Bool) {
        guard let drainWatch else { return }
        let input = bufferevent_get_input(bev)
        if on {
            evbuffer_cb_set_flags(input, drainWatch, UInt32(EVBUFFER_CB_ENABLED))
        } else {
            evbuffer_cb_clear_flags(input, drainWatch, UInt32(EVBUFFER_CB_ENABLED))
        }
    }
}
