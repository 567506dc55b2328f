import CLibevent
import CNGHTTP2
import COpenSSL
import SluiceCore

/// One HTTP/2 connection of the client (prior knowledge for `http`, ALPN `h2` for `https`) carrying
/// any number of request streams (``HTTP2ClientStream``). The pump follows nghttp2's libevent client
/// example. Flow control is per stream: received DATA is acknowledged (`nghttp2_session_consume`)
/// only while its stream is not paused, so a paused transport's stream window closes and the server
/// holds that stream back while the others flow; the connection window is made large (16 MiB) so a
/// few paused streams cannot stall the rest. Loop thread only.
final class HTTP2ClientSession {
    let loop: EventLoop
    let endpoint: ClientEndpoint
    private let tls: ClientTLS?
    private var bev: OpaquePointer?
    private var session: OpaquePointer?
    private var streams: [Int32: HTTP2ClientStream] = [:]
    private var waiting: [HTTP2ClientStream] = []
    private(set) var state: State = .idle
    /// Inside nghttp2: freeing the session now would pull it from under the library.
    private var inSession = 0
    private var closeLater = false
    /// Told when the session has ended, so a pool forgets it. A pooled session with no stream left stays
    /// open for the next one (the server's idle timeout ends it); a private one is closed by its stream.
    var onEnd: ((HTTP2ClientSession) -> Void)?

    enum State { case idle, connecting, open, closed }

    static let connectionWindow: Int32 = 16 << 20

    init(loop: EventLoop, endpoint: ClientEndpoint, tls: ClientTLS?) {
        self.loop = loop
        self.endpoint = endpoint
        self.tls = tls
    }

    deinit {
        if let session { nghttp2_session_del(session) }
        reads?.close()
        if let bev { bufferevent_free(bev) }
    }

    /// Reads a plain socket once connected (see `ReadThrough`); TLS is read by libevent.
    private var reads: ReadThrough?

    var streamCount: Int { streams.count + waiting.count }

    /// Starts a stream: at once on an open session, else once the connection is up.
    func open(_ stream: HTTP2ClientStream) {
        switch state {
        case .closed:
            stream.failed("connection closed")
        case .open:
            submit(stream)
            pump()
        case .idle:
            waiting.append(stream)
            connect()
        case .connecting:
            waiting.append(stream)
        }
    }

    /// The stream's consumer wants no more (close): reset it.
    func cancel(_ stream: HTTP2ClientStream) {
        if let index = waiting.firstIndex(where: { $0 === stream }) { waiting.remove(at: index) }
        if stream.id > 0, streams.removeValue(forKey: stream.id) != nil, let session, state == .open {
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_CANCEL.rawValue)
            if inSession == 0 { pump() }
        }
    }

    /// Credits `count` received bytes of `stream` back to the server (its window reopens).
    func consume(_ stream: HTTP2ClientStream, _ count: Int) {
        guard let session, state == .open, count > 0 else { return }
        nghttp2_session_consume(session, stream.id, count)
        if inSession == 0 { pump() }
    }

    /// Ends the connection; streams still open fail.
    func close(reason: String = "connection closed") {
        guard state != .closed else { return }
        state = .closed
        let all = Array(streams.values) + waiting
        streams.removeAll()
        waiting.removeAll()
        for stream in all { stream.failed(reason) }
        if inSession > 0 {
            closeLater = true
        } else {
            release()
        }
        onEnd?(self)
    }

    private func release() {
        if let session {
            self.session = nil
            nghttp2_session_del(session)
        }
        if let bev {
            self.bev = nil
            reads?.close()
            reads = nil
            bufferevent_free(bev)
        }
    }

    // MARK: Connection

    private func connect() {
        state = .connecting
        let options = Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)
        if endpoint.secure {
            guard let tls, let ssl = tls.makeSSL(host: endpoint.host, alpn: "h2") else { return close(reason: "TLS set-up failed") }
            bev = bufferevent_openssl_socket_new(loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, options)
        } else {
            bev = bufferevent_socket_new(loop.base, -1, options)
        }
        guard let bev else { return close(reason: "bufferevent_socket_new failed") }
        BuffereventTuning.apply(bev)
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            Unmanaged<HTTP2ClientSession>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, nil, { _, events, ctx in
            Unmanaged<HTTP2ClientSession>.fromOpaque(ctx!).takeUnretainedValue().event(events)
        }, me)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        if let failure = SocketConnect.start(bev, endpoint: endpoint, loop: loop) { close(reason: failure) }
    }

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_CONNECTED) != 0 {
            if endpoint.secure, let bev {
                var protocolName: UnsafePointer<UInt8>?
                var length: UInt32 = 0
                SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &protocolName, &length)
                guard length == 2, let protocolName, protocolName[0] == UInt8(ascii: "h"), protocolName[1] == UInt8(ascii: "2") else {
                    return close(reason: "the server did not agree to h2 (ALPN)")
                }
            }
            guard startSession() else { return close(reason: "cannot start the HTTP/2 session") }
            if !endpoint.secure, let bev {
                bufferevent_disable(bev, Int16(EV_READ))
                reads = ReadThrough(bev)
                reads?.start()
            }
            state = .open
            let ready = waiting
            waiting.removeAll()
            for stream in ready {
                stream.connected()
                submit(stream)
            }
            pump()
            return
        }
        if events & Int16(BEV_EVENT_EOF) != 0 {
            readable()
            return close(reason: "connection closed before the response ended")
        }
        if events & Int16(BEV_EVENT_ERROR) != 0 {
            if let bev, bufferevent_socket_get_dns_error(bev) != 0 { return close(reason: "cannot resolve \(endpoint.host)") }
            close(reason: "connection failed")
        }
    }

    private func startSession() -> Bool {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            HTTP2ClientSession.from(user).send(data!, length)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            HTTP2ClientSession.from(user).header(
                frame!, UnsafeBufferPointer(start: name, count: nameLength), UnsafeBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            HTTP2ClientSession.from(user).frameReceived(frame!)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
            HTTP2ClientSession.from(user).dataChunk(id, UnsafeBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            HTTP2ClientSession.from(user).streamClosed(id, code)
        }
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // Windows follow what each stream's consumer takes, not what arrives.
        nghttp2_option_set_no_auto_window_update(option, 1)
        var created: OpaquePointer?
        guard nghttp2_session_client_new2(&created, callbacks, Unmanaged.passUnretained(self).toOpaque(), option) == 0,
              let created else { return false }
        session = created
        nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
        nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Self.connectionWindow)
        return true
    }

    private func submit(_ stream: HTTP2ClientStream) {
        guard let session else { return stream.failed("no session") }
        var fields: [(String, String)] = [(":method", stream.method), (":scheme", endpoint.secure ? "https" : "http"),
                                          (":authority", endpoint.authority), (":path", stream.path)]
        fields += stream.headers.map { ($0.name.lowercased(), $0.value) }
        if !stream.body.isEmpty { fields.append(("content-length", String(stream.body.count))) }
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
            if stream.body.isEmpty { return nghttp2_submit_request(session, nil, nvs, nvs.count, nil, nil) }
            var provider = nghttp2_data_provider()
            provider.read_callback = { session, id, buffer, length, flags, _, user in
                HTTP2ClientSession.from(user).readBody(id, buffer!, length, flags!)
            }
            return nghttp2_submit_request(session, nil, nvs, nvs.count, &provider, nil)
        }
        guard id > 0 else { return stream.failed("cannot submit the request: \(String(cString: nghttp2_strerror(id)))") }
        stream.id = id
        streams[id] = stream
    }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2ClientSession {
        Unmanaged<HTTP2ClientSession>.fromOpaque(user!).takeUnretainedValue()
    }

    // MARK: The pump

    private func readable() {
        guard let bev, let session, state == .open else { return }
        let input = bufferevent_get_input(bev)
        let length = evbuffer_get_length(input)
        guard length > 0 else { return }
        inSession += 1
        let consumed = nghttp2_session_mem_recv(session, evbuffer_pullup(input, -1), length)
        inSession -= 1
        if closeLater { return release() }
        guard consumed >= 0 else { return close(reason: "h2 receive error: \(String(cString: nghttp2_strerror(Int32(consumed))))") }
        evbuffer_drain(input, consumed)
        pump()
    }

    private func pump() {
        guard let session, state == .open else { return }
        inSession += 1
        let rv = nghttp2_session_send(session)
        inSession -= 1
        if closeLater { return release() }
        if rv != 0 { return close(reason: "h2 send error: \(String(cString: nghttp2_strerror(rv)))") }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            close(reason: "the server ended the connection")
        }
    }

    private func send(_ data: UnsafePointer<UInt8>, _ length: Int) -> Int {
        guard let bev else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        bufferevent_write(bev, data, length)
        return length
    }

    private func readBody(_ id: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int, _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[id] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let n = min(length, stream.body.count - stream.bodySent)
        stream.body.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + stream.bodySent, count: n) }
        stream.bodySent += n
        if stream.bodySent == stream.body.count { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }

    // MARK: Frames

    private func header(_ frame: UnsafePointer<nghttp2_frame>, _ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Int32 {
        streams[frame.pointee.hd.stream_id]?.header(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        if header.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
            // Streams the server did not take fail now; the rest end with their stream close.
            let last = frame.pointee.goaway.last_stream_id
            for (id, stream) in streams where id > last {
                streams.removeValue(forKey: id)
                stream.failed("the server went away (GOAWAY)")
            }
            return 0
        }
        if header.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_RESPONSE {
            streams[header.stream_id]?.headersComplete()
        }
        return 0
    }

    private func dataChunk(_ id: Int32, _ data: UnsafeBufferPointer<UInt8>) -> Int32 {
        if let stream = streams[id] {
            stream.data(Array(data))
        } else if let session {
            nghttp2_session_consume_connection(session, data.count)  // a cancelled stream's leftovers
        }
        return 0
    }

    private func streamClosed(_ id: Int32, _ code: UInt32) -> Int32 {
        guard let stream = streams.removeValue(forKey: id) else { return 0 }
        if code == NGHTTP2_NO_ERROR.rawValue {
            stream.ended()
        } else {
            stream.failed("stream reset by the server (HTTP/2 error \(code))")
        }
        return 0
    }
}
