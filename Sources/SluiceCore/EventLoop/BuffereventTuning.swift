import CLibevent

/// Settings every bufferevent of ours gets, server or client.
public enum BuffereventTuning {
    /// Bytes one read or write syscall may move. libevent 2.1 caps both at 16 KiB by default, so a
    /// 1 MiB response took 64 `writev`s, each pushing a small burst through loopback TCP; the h2
    /// 1 MiB benchmark spent most of its time there.
    public static let maxSingleIO = 256 * 1024

    public static func apply(_ bev: OpaquePointer) {
        _ = bufferevent_set_max_single_read(bev, maxSingleIO)
        _ = bufferevent_set_max_single_write(bev, maxSingleIO)
    }
}
