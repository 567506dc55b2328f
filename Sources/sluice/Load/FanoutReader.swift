import CLibevent
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// One raw HTTP/1.1 SSE subscription for the fan-out load: a bufferevent, the response parser (for
/// chunked framing) and a stamp scanner; no buffering, no reconnection. Loop thread only.
final class FanoutReader {
    enum State { case connecting, streaming, failed(String), ended }

    private(set) var state = State.connecting
    private var bev: OpaquePointer?
    /// Reads the socket (see `ReadThrough`: no FIONREAD per read, more than 4 KiB a read).
    private var reads: ReadThrough?
    private let parser = HTTP1ResponseParser()
    private var scanner = SSEStampScanner()
    private let onStamp: (Int) -> Void
    private let onState: (FanoutReader) -> Void

    init(onStamp: @escaping (Int) -> Void, onState: @escaping (FanoutReader) -> Void) {
        self.onStamp = onStamp
        self.onState = onState
    }

    /// Connects to `address` and sends `request` (queued until the connection is up).
    func start(base: OpaquePointer, address: UnsafePointer<sockaddr>, length: Int32, request: [UInt8]) {
        guard let bev = bufferevent_socket_new(base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else {
            return change(.failed("bufferevent_socket_new failed"))
        }
        self.bev = bev
        BuffereventTuning.apply(bev)
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            Unmanaged<FanoutReader>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, nil, { _, events, ctx in
            Unmanaged<FanoutReader>.fromOpaque(ctx!).takeUnretainedValue().event(events)
        }, me)
        bufferevent_enable(bev, Int16(EV_WRITE))
        request.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress, $0.count) }
        if bufferevent_socket_connect(bev, address, length) != 0 { return change(.failed("connect failed")) }
        reads = ReadThrough(bev)
        reads?.start()
    }

    func close() {
        reads?.close()
        reads = nil
        if let bev { bufferevent_free(bev) }
        bev = nil
    }

    deinit { close() }

    private func readable() {
        guard let bev else { return }
        let input = bufferevent_get_input(bev)
        let length = evbuffer_get_length(input)
        // What arrived, as one contiguous view, goes to the parser and is then drained: no scratch
        // buffer per reader (10,000 readers held 640 MB of them).
        guard length > 0, let bytes = evbuffer_pullup(input, -1) else { return }
        defer { evbuffer_drain(input, length) }
        do {
            for event in try parser.feed(UnsafeBufferPointer(start: bytes, count: length)) {
                switch event {
                case .head(let status, _):
                    if status == 200 { change(.streaming) } else { change(.failed("status \(status)")) }
                case .body(let body):
                    body.withUnsafeBytes { scanner.scan($0, event: onStamp) }
                case .end, .upgraded:
                    change(.ended)
                }
            }
        } catch {
            change(.failed("malformed response: \(error)"))
        }
    }

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_EOF) != 0 { return change(.ended) }
        if events & Int16(BEV_EVENT_ERROR) != 0 { change(.failed("connection error \(errno)")) }
    }

    private func change(_ new: State) {
        switch state {
        case .failed, .ended: return
        default: break
        }
        state = new
        onState(self)
    }
}
