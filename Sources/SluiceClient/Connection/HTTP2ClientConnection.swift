import CLibevent
import CNGHTTP2
import COpenSSL
import SluiceCore

/// One request over HTTP/2 (prior knowledge for `http`, ALPN `h2` for `https`), reporting the same
/// events as ``HTTP1ClientConnection``, so a transport's session reads either. The pump follows
/// nghttp2's libevent client example: readable → `nghttp2_session_mem_recv` → `nghttp2_session_send`.
/// Pausing stops reading the socket; the stream's window (64 KiB) and then TCP hold the server back.
/// Loop thread only. One stream per connection: sharing a connection between transports is not
/// done yet.
final class HTTP2ClientConnection: ClientStreamConnection {
    typealias Event = HTTP1ClientConnection.Event

    private let loop: EventLoop
    private let endpoint: ClientEndpoint
    private let method: String
    private let headers: [(name: String, value: String)]
    private let body: [UInt8]
    private let tls: ClientTLS?
    private var onEvent: ((Event) -> Void)?
    private var bev: OpaquePointer?
    private var session: OpaquePointer?
    private var streamID: Int32 = -1
    private var status = 0
    private var responseHeaders: [HTTP1Header] = []
    private var finished = false
    private var bodySent = 0
    /// Inside `nghttp2_session_mem_recv`/`send`: a close from a callback (the session's owner ending
    /// the attempt on `.end`) must wait until nghttp2 has returned, or it frees the session under it.
    private var inSession = 0
    private var closeLater = false

    init(loop: EventLoop, endpoint: ClientEndpoint, method: String, headers: [(name: String, value: String)], body: [UInt8],
         tls: ClientTLS?, onEvent: @escaping (Event) -> Void) {
        self.loop = loop
        self.endpoint = endpoint
        self.method = method
        self.headers = headers
        self.body = body
        self.tls = tls
        self.onEvent = onEvent
    }

    deinit {
        if let session { nghttp2_session_del(session) }
        if let bev { bufferevent_free(bev) }
    }

    func start() {
        let options = Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)
        if endpoint.secure {
            guard let tls, let ssl = tls.makeSSL(host: endpoint.host, alpn: "h2") else { return fail("TLS set-up failed") }
            bev = bufferevent_openssl_socket_new(loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, options)
        } else {
            bev = bufferevent_socket_new(loop.base, -1, options)
        }
        guard let bev else { return fail("bufferevent_socket_new failed") }
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            Unmanaged<HTTP2ClientConnection>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, nil, { _, events, ctx in
            Unmanaged<HTTP2ClientConnection>.fromOpaque(ctx!).takeUnretainedValue().event(events)
        }, me)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        if bufferevent_socket_connect_hostname(bev, loop.dnsBase, AF_UNSPEC, endpoint.host, Int32(endpoint.port)) != 0 {
            fail("cannot connect to \(endpoint.authority)")
        }
    }

    func pauseReading() { if let bev { bufferevent_disable(bev, Int16(EV_READ)) } }
    func resumeReading() { if let bev { bufferevent_enable(bev, Int16(EV_READ)) } }

    func close() {
        finished = true
        onEvent = nil
        if inSession > 0 {
            closeLater = true
            return
        }
        if let session {
            self.session = nil
            nghttp2_session_del(session)
        }
        if let bev {
            self.bev = nil
            bufferevent_free(bev)
        }
    }

    // MARK: Connection

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_CONNECTED) != 0 {
            if endpoint.secure, let bev {
                var protocolName: UnsafePointer<UInt8>?
                var length: UInt32 = 0
                SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &protocolName, &length)
                guard length == 2, let protocolName, protocolName[0] == UInt8(ascii: "h"), protocolName[1] == UInt8(ascii: "2") else {
                    return fail("the server did not agree to h2 (ALPN)")
                }
            }
            onEvent?(.connected)
            guard startSession() else { return fail("cannot start the HTTP/2 session") }
            pump()
            return
        }
        if events & Int16(BEV_EVENT_EOF) != 0 {
            readable()
            fail("connection closed before the response ended")
            return
        }
        if events & Int16(BEV_EVENT_ERROR) != 0 {
            if let bev, bufferevent_socket_get_dns_error(bev) != 0 { return fail("cannot resolve \(endpoint.host)") }
            fail("connection failed")
        }
    }

    private func startSession() -> Bool {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            HTTP2ClientConnection.from(user).send(data!, length)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            HTTP2ClientConnection.from(user).header(
                frame!, UnsafeBufferPointer(start: name, count: nameLength), UnsafeBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            HTTP2ClientConnection.from(user).frameReceived(frame!)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
            HTTP2ClientConnection.from(user).dataChunk(id, UnsafeBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            HTTP2ClientConnection.from(user).streamClosed(id, code)
        }
        var created: OpaquePointer?
        guard nghttp2_session_client_new(&created, callbacks, Unmanaged.passUnretained(self).toOpaque()) == 0, let created else { return false }
        session = created
        nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
        var fields: [(String, String)] = [(":method", method), (":scheme", endpoint.secure ? "https" : "http"),
                                          (":authority", endpoint.authority), (":path", endpoint.target)]
        fields += headers.map { ($0.name.lowercased(), $0.value) }
        if !body.isEmpty { fields.append(("content-length", String(body.count))) }
        let pairs = fields.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        var storage: [UInt8] = pairs.flatMap { $0.0 + $0.1 }
        let id: Int32 = storage.withUnsafeMutableBufferPointer { bytes in
            var nvs: [nghttp2_nv] = []
            var offset = 0
            for (name, value) in pairs {
                let n = bytes.baseAddress! + offset
                nvs.append(nghttp2_nv(name: n, value: n + name.count, namelen: name.count, valuelen: value.count,
                                      flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                offset += name.count + value.count
            }
            // nghttp2 copies the fields: the storage need not outlive this call.
            if body.isEmpty { return nghttp2_submit_request(created, nil, nvs, nvs.count, nil, nil) }
            var provider = nghttp2_data_provider()
            provider.read_callback = { _, _, buffer, length, flags, _, user in
                HTTP2ClientConnection.from(user).readBody(buffer!, length, flags!)
            }
            return nghttp2_submit_request(created, nil, nvs, nvs.count, &provider, nil)
        }
        streamID = id
        return id > 0
    }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2ClientConnection {
        Unmanaged<HTTP2ClientConnection>.fromOpaque(user!).takeUnretainedValue()
    }

    // MARK: The pump

    private func readable() {
        guard let bev, let session, !finished else { return }
        let input = bufferevent_get_input(bev)
        let length = evbuffer_get_length(input)
        guard length > 0 else { return }
        inSession += 1
        let consumed = nghttp2_session_mem_recv(session, evbuffer_pullup(input, -1), length)
        inSession -= 1
        if closeLater { return close() }
        guard consumed >= 0 else { return fail("h2 receive error: \(String(cString: nghttp2_strerror(Int32(consumed))))") }
        evbuffer_drain(input, consumed)
        pump()
    }

    private func pump() {
        guard let session, !finished else { return }
        inSession += 1
        let rv = nghttp2_session_send(session)
        inSession -= 1
        if closeLater { return close() }
        if rv != 0 { fail("h2 send error: \(String(cString: nghttp2_strerror(rv)))") }
    }

    private func send(_ data: UnsafePointer<UInt8>, _ length: Int) -> Int {
        guard let bev else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        bufferevent_write(bev, data, length)
        return length
    }

    private func readBody(_ buffer: UnsafeMutablePointer<UInt8>, _ length: Int, _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        let n = min(length, body.count - bodySent)
        body.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + bodySent, count: n) }
        bodySent += n
        if bodySent == body.count { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }

    // MARK: Frames

    private func header(_ frame: UnsafePointer<nghttp2_frame>, _ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard frame.pointee.hd.stream_id == streamID else { return 0 }
        let n = String(decoding: name, as: UTF8.self)
        let v = String(decoding: value, as: UTF8.self)
        if n == ":status" {
            status = Int(v) ?? 0
            responseHeaders = []  // a final head after interim (1xx) ones starts afresh
        } else {
            responseHeaders.append(HTTP1Header(name: n, value: v))
        }
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        guard header.stream_id == streamID, !finished else { return 0 }
        if header.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_RESPONSE, !(100..<200).contains(status) {
            onEvent?(.head(status: status, headers: responseHeaders))
        }
        return 0
    }

    private func dataChunk(_ id: Int32, _ data: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard id == streamID, !finished else { return 0 }
        onEvent?(.body(Array(data)))
        return 0
    }

    private func streamClosed(_ id: Int32, _ code: UInt32) -> Int32 {
        guard id == streamID, !finished else { return 0 }
        if code == NGHTTP2_NO_ERROR.rawValue {
            finished = true
            onEvent?(.end)
        } else {
            fail("stream reset by the server (HTTP/2 error \(code))")
        }
        return 0
    }

    private func fail(_ reason: String) {
        guard !finished else { return }
        finished = true
        onEvent?(.failed(reason))
    }
}
