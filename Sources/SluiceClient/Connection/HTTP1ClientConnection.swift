import CLibevent
import COpenSSL
import SluiceCore

/// What a transport's session needs of its connection, whichever HTTP version carries it.
protocol ClientStreamConnection: AnyObject {
    /// Resolves, connects and sends the request. Loop thread.
    func start()
    /// Closes without reporting anything more. Loop thread.
    func close()
    func pauseReading()
    func resumeReading()
}

/// One HTTP/1.1 request and its (possibly endless) response over TCP or TLS, confined to one event
/// loop. Name resolution goes through libevent's evdns; the response is parsed by
/// ``HTTP1ResponseParser``. `pauseReading` stops reading the socket, so TCP flow control pushes back
/// on the server.
final class HTTP1ClientConnection: ClientStreamConnection {
    enum Event {
        case connected
        case head(status: Int, headers: [HTTP1Header])
        case body([UInt8])
        case end
        case failed(String)
    }

    private let loop: EventLoop
    private let endpoint: ClientEndpoint
    private let request: [UInt8]
    private let tls: ClientTLS?
    /// Dropped on close, which also breaks any cycle through the owner's callback.
    private var onEvent: ((Event) -> Void)?
    private var bev: OpaquePointer?
    private let parser = HTTP1ResponseParser()
    private var finished = false
    /// After a 101, bytes go to the new protocol as `.body` without HTTP parsing.
    private var upgraded = false

    init(loop: EventLoop, endpoint: ClientEndpoint, request: [UInt8], tls: ClientTLS?, onEvent: @escaping (Event) -> Void) {
        self.loop = loop
        self.endpoint = endpoint
        self.request = request
        self.tls = tls
        self.onEvent = onEvent
    }

    /// Resolves, connects and sends the request. Loop thread.
    func start() {
        let options = Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)
        if endpoint.secure {
            guard let tls, let ssl = tls.makeSSL(host: endpoint.host) else { return fail("TLS set-up failed") }
            bev = bufferevent_openssl_socket_new(loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, options)
        } else {
            bev = bufferevent_socket_new(loop.base, -1, options)
        }
        guard let bev else { return fail("bufferevent_socket_new failed") }
        BuffereventTuning.apply(bev)
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            Unmanaged<HTTP1ClientConnection>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, { _, ctx in
            // libevent 2.1 reports a plain connect that completed at once as a write trigger, not as
            // BEV_EVENT_CONNECTED (bufferevent_socket_connect's "succeeded already" path).
            let connection = Unmanaged<HTTP1ClientConnection>.fromOpaque(ctx!).takeUnretainedValue()
            if !connection.endpoint.secure { connection.connected() }
        }, { _, events, ctx in
            Unmanaged<HTTP1ClientConnection>.fromOpaque(ctx!).takeUnretainedValue().event(events)
        }, me)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        if let failure = SocketConnect.start(bev, endpoint: endpoint, loop: loop) { fail(failure) }
    }

    /// Writes bytes of an upgraded protocol (WebSocket frames). Loop thread.
    func send(_ bytes: [UInt8]) {
        guard let bev, !finished else { return }
        bytes.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress, $0.count) }
    }

    /// Bytes written but not yet taken by the kernel.
    var pendingOutput: Int {
        guard let bev else { return 0 }
        return evbuffer_get_length(bufferevent_get_output(bev))
    }

    func pauseReading() {
        if let reads { reads.stop() } else if let bev { bufferevent_disable(bev, Int16(EV_READ)) }
    }

    func resumeReading() {
        if let reads { reads.start() } else if let bev { bufferevent_enable(bev, Int16(EV_READ)) }
    }

    /// Reads a plain socket once connected (see `ReadThrough`); TLS is read by libevent.
    private var reads: ReadThrough?

    /// Closes without reporting anything more. Loop thread.
    func close() {
        finished = true
        onEvent = nil
        if let bev {
            self.bev = nil
            reads?.close()
            reads = nil
            bufferevent_free(bev)
        }
    }

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_CONNECTED) != 0 { return connected() }
        if events & Int16(BEV_EVENT_EOF) != 0 {
            readable()  // whatever arrived with the close
            if upgraded {
                if !finished {
                    finished = true
                    onEvent?(.end)
                }
                return
            }
            do {
                deliver(try parser.finish())
                if !finished { fail("connection closed before the response ended") }
            } catch {
                fail("connection closed mid-response: \(error)")
            }
            return
        }
        if events & Int16(BEV_EVENT_ERROR) != 0 {
            var reason = "connection failed"
            if let bev, bufferevent_socket_get_dns_error(bev) != 0 {
                reason = "cannot resolve \(endpoint.host)"
            } else if endpoint.secure, let bev {
                let code = bufferevent_get_openssl_error(bev)
                if code != 0 {
                    var buffer = [CChar](repeating: 0, count: 256)
                    ERR_error_string_n(code, &buffer, buffer.count)
                    reason = "TLS: " + String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            fail(reason)
        }
    }

    /// The connection is up: report it and send the request, once.
    private func connected() {
        guard let bev, !didConnect, !finished else { return }
        didConnect = true
        if !endpoint.secure {
            // A pause asked for while connecting holds: the reader starts only if libevent's was on.
            let reading = bufferevent_get_enabled(bev) & Int16(EV_READ) != 0
            bufferevent_disable(bev, Int16(EV_READ))
            reads = ReadThrough(bev)
            if reading { reads?.start() }
        }
        onEvent?(.connected)
        request.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress, $0.count) }
    }

    private var didConnect = false

    private func readable() {
        guard let bev, !finished else { return }
        let input = bufferevent_get_input(bev)
        let length = evbuffer_get_length(input)
        guard length > 0 else { return }
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { _ = evbuffer_remove(input, $0.baseAddress, length) }
        if upgraded { return onEvent?(.body(bytes)) ?? () }
        do {
            deliver(try parser.feed(bytes))
        } catch {
            fail("malformed response: \(error)")
        }
    }

    private func deliver(_ events: [HTTP1ResponseEvent]) {
        for event in events where !finished {
            switch event {
            case .head(let status, let headers):
                if (100..<200).contains(status) && status != 101 { continue }  // interim answers
                onEvent?(.head(status: status, headers: headers))
            case .body(let bytes): onEvent?(.body(bytes))
            case .end:
                if upgraded { continue }
                finished = true
                onEvent?(.end)
            case .upgraded(let leftover):
                upgraded = true
                if !leftover.isEmpty { onEvent?(.body(leftover)) }
            }
        }
    }

    private func fail(_ reason: String) {
        guard !finished else { return }
        finished = true
        onEvent?(.failed(reason))
    }
}
