import CLibevent

/// A one-shot timer on one loop that can be re-armed. Loop thread only.
///
/// The class owns its libevent event and frees it in `deinit`, so a callback can never reach a
/// freed timer: libevent drops a freed event from the base before `event_free` returns.
public final class LoopTimer {
    private let loop: EventLoop
    private var event: OpaquePointer!
    private var action: (() -> Void)?

    public init(loop: EventLoop) {
        self.loop = loop
        let context = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(loop.base, -1, 0, { _, _, context in
            let timer = Unmanaged<LoopTimer>.fromOpaque(context!).takeUnretainedValue()
            let action = timer.action
            timer.action = nil
            action?()
        }, context)
    }

    deinit { event_free(event) }

    /// Fires `action` once after `delay`, replacing any earlier schedule. Timers of equal delay share a
    /// libevent common-timeout queue unless `common` is false: a delay that varies (the rest of a
    /// deadline) must not, since the loop keeps one queue per distinct delay it is given.
    public func schedule(after delay: Duration, common: Bool = true, _ action: @escaping () -> Void) {
        self.action = action
        var tv = common ? loop.commonTimeout(delay) : timeval(microseconds: delay.microseconds)
        // libevent counts from the time it cached at its last poll; a timer armed from a job that runs
        // later (jobs run in slices between polls) would fire that much early. Count from now.
        event_base_update_cache_time(loop.base)
        event_add(event, &tv)
    }

    public func cancel() {
        action = nil
        event_del(event)
    }

    public var isScheduled: Bool { action != nil }
}
