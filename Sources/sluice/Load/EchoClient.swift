import CLibevent
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// One raw WebSocket connection for the echo load: the upgrade, then one masked binary message at a
/// time, the next sent when the echo of the last arrives. A plain socket and read event, not a
/// bufferevent: each write would otherwise cost an epoll_ctl to arm and one to disarm the write event,
/// and the loader must not be the bottleneck. No fragmentation, no deflate, no
/// reconnection. Loop thread only.
final class EchoClient {
    enum State { case connecting, open, finished, failed(String) }

    private(set) var state = State.connecting
    private var fd: Int32 = -1
    private var readEvent: OpaquePointer?
    /// Where `recv` puts what arrives: one buffer for all connections of the run (one loop thread),
    /// not 64 KiB each.
    private let scratch: UnsafeMutableRawBufferPointer
    private let handshake = HTTP1ResponseParser()
    private var frames = WebSocketFrameParser(role: .client)
    private let frame: [UInt8]
    private let messages: Int
    private var sent = 0
    private var sentAt = 0
    private let onEcho: (_ micros: Int) -> Void
    private let onState: (EchoClient) -> Void

    /// `payload` is sent `messages` times once `go()` is called.
    init(payload: [UInt8], messages: Int, scratch: UnsafeMutableRawBufferPointer,
         onEcho: @escaping (Int) -> Void, onState: @escaping (EchoClient) -> Void) {
        self.scratch = scratch
        // Every message is the same frame: one masking key for all is fine for a load generator (the
        // server unmasks each frame; the key's secrecy only matters against proxies).
        frame = WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .binary, payload: payload), maskingKey: (0x12, 0x34, 0x56, 0x78))
        self.messages = messages
        self.onEcho = onEcho
        self.onState = onState
    }

    /// Connects (blocking: loopback, and before timing starts), sends the upgrade request and reads
    /// from then on with a plain read event.
    func start(base: OpaquePointer, address: UnsafePointer<sockaddr>, length: Int32, request: [UInt8]) {
        let fd = socket(Int32(address.pointee.sa_family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return change(.failed("socket: errno \(errno)")) }
        self.fd = fd
        guard connect(fd, address, socklen_t(length)) == 0 else { return change(.failed("connect: errno \(errno)")) }
        // Round trips are latency-bound: a small frame waiting for Nagle's timer would measure it.
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        evutil_make_socket_nonblocking(fd)
        let me = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(base, fd, Int16(EV_READ | EV_PERSIST), { _, _, ctx in
            Unmanaged<EchoClient>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, me)
        event_add(readEvent, nil)
        send(request)
    }

    /// Sends the first message; each echo sends the next.
    func go() { sendNext() }

    func close() {
        if let readEvent { event_free(readEvent) }
        readEvent = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }

    private func sendNext() {
        sent += 1
        sentAt = EchoClient.monotonicMicros()
        send(frame)
    }

    /// Writes straight to the socket: with one small message in flight per connection the send buffer
    /// is always empty, so a short write means something is wrong, not that the peer is slow.
    private func send(_ bytes: [UInt8]) {
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if written != bytes.count { change(.failed("short send (\(written) of \(bytes.count), errno \(errno))")) }
    }

    private func readable() {
        let count = recv(fd, scratch.baseAddress, scratch.count, 0)
        if count == 0 { return change(.failed("connection closed by the server")) }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            return change(.failed("recv: errno \(errno)"))
        }
        let received = UnsafeRawBufferPointer(rebasing: scratch[0..<count])
        if case .connecting = state {
            do {
                for event in try handshake.feed(received) {
                    switch event {
                    case .upgraded(let leftover):
                        frames.append(leftover)
                        change(.open)
                    case .head(let status, _) where status != 101:
                        return change(.failed("status \(status)"))
                    default:
                        break
                    }
                }
            } catch {
                return change(.failed("malformed response: \(error)"))
            }
        } else {
            frames.append(received)
        }
        do {
            while let frame = try frames.next() {
                guard case .open = state, frame.opcode == .binary else { continue }
                onEcho(EchoClient.monotonicMicros() - sentAt)
                if sent < messages { sendNext() } else { change(.finished) }
            }
        } catch {
            change(.failed("bad frame: \(error)"))
        }
    }

    private func change(_ new: State) {
        switch state {
        case .failed, .finished: return
        default: break
        }
        state = new
        onState(self)
    }

    static func monotonicMicros() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
    }
}
