import CLibevent

/// Writes a plain-socket bufferevent's output from the loop's own turn instead of from a write event.
///
/// A bufferevent left to write by itself arms its socket's write event each time its output goes from
/// empty to non-empty (an `epoll_ctl`), waits for a poll to report the socket writable, writes, and
/// disarms the event (another `epoll_ctl`): three steps where a WebSocket echo or a small response
/// needs one `writev`. With write-through the bufferevent's writing stays disabled while its output
/// is empty; ``flush(_:)`` (called once the loop's current jobs are done, see
/// ``EventLoop/writeSoon(_:)``) writes what is queued at once, and only what the socket does not take
/// enables libevent's writing, until the output is empty again.
///
/// TLS bufferevents are left alone (`enabled` false): their output is plaintext OpenSSL must encrypt.
/// A plain socket is read by a ``ReadThrough``, so ``start(_:)`` leaves libevent's reading off too.
///
/// ```swift
/// let writes = WriteThrough(enabled: !tls)
/// writes.start(bev)                 // instead of bufferevent_enable(bev, EV_READ | EV_WRITE)
/// let reads = ReadThrough(bev)      // plain sockets only
/// reads.start()
/// evbuffer_add(bufferevent_get_output(bev), bytes, count)
/// if writes.flush(bev) { /* all of it is in the kernel */ }
/// ```
public struct WriteThrough: Sendable {
    public let enabled: Bool

    public init(enabled: Bool) { self.enabled = enabled }

    /// Starts libevent's reading and writing, unless write-through (and a ``ReadThrough``) take them over.
    public func start(_ bev: OpaquePointer) {
        if enabled {
            bufferevent_disable(bev, Int16(EV_READ | EV_WRITE))
        } else {
            bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        }
    }

    /// Writes what the output holds, if libevent is not already doing so; true when the output is
    /// empty afterwards. A write error is left for libevent's own write to find and report through
    /// the event callback, like any other.
    @discardableResult
    public func flush(_ bev: OpaquePointer) -> Bool {
        let output = bufferevent_get_output(bev)
        guard evbuffer_get_length(output) > 0 else { return true }
        guard enabled, bufferevent_get_enabled(bev) & Int16(EV_WRITE) == 0 else { return false }
        // A socket bufferevent keeps its output's front frozen so only its own write drains it; its
        // write callback thaws it around the write, and so does this.
        evbuffer_unfreeze(output, 1)
        _ = evbuffer_write_atmost(output, bufferevent_getfd(bev), BuffereventTuning.maxSingleIO)
        evbuffer_freeze(output, 1)
        if evbuffer_get_length(output) == 0 { return true }
        bufferevent_enable(bev, Int16(EV_WRITE))
        return false
    }

    /// From the write callback: once libevent has emptied the output, writing goes back to ``flush(_:)``.
    public func written(_ bev: OpaquePointer) {
        guard enabled, evbuffer_get_length(bufferevent_get_output(bev)) == 0 else { return }
        bufferevent_disable(bev, Int16(EV_WRITE))
    }
}
