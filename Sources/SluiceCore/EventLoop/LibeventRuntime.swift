import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide set-up that must happen before the first `event_base` exists.
enum LibeventRuntime {
    /// `evthread_use_pthreads()` makes `event_active` from another thread wake the loop at once
    /// (without it a cross-thread wake-up was seen to take ~2 s); SIGPIPE is ignored so that a
    /// write to a closed socket returns EPIPE instead of ending the process.
    static let initialized: Bool = {
        _ = evthread_use_pthreads()
        signal(SIGPIPE, SIG_IGN)
        return true
    }()
}
