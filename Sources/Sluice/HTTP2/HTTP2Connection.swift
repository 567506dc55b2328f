import CLibevent
import CNGHTTP2
import CSluiceShims
import HTTPTypes
import Logging
import SluiceCore

/// One HTTP/2 connection (h2c with prior knowledge, or h2 after ALPN), confined to its loop.
///
/// The pump follows nghttp2's libevent example: readable → `nghttp2_session_mem_recv` → drain
/// input → `nghttp2_session_send`; the send callbacks refuse (WOULDBLOCK) once the socket's output
/// holds ``HTTP2Settings/outputBufferLimit`` bytes, the output is written at the end of the loop's
/// turn (``WriteThrough``) and pumped and written again while the socket takes all of it (up to a
/// budget per turn), and the write callback pumps again as a full socket drains.
/// Each response body is an nghttp2 data source over the stream's ``OutboundQueue``: an empty queue
/// answers `NGHTTP2_ERR_DEFERRED`, a producer's write resumes the stream; DATA frames take the
/// NO_COPY path (sized from the queue, their bytes copied once, into the socket's output). nghttp2 pulls only what
/// the peer's windows allow, so a slow reader stalls its own stream and nothing else.
final class HTTP2Connection: ServerConnection, DeferredWriter {
    private enum State { case open, draining, closed }

    let loop: EventLoop
    let remoteAddress: String
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private let scheme: String
    private let settings: HTTP2Settings
    private var bev: OpaquePointer?
    private var session: OpaquePointer?
    /// Loop-confined, as everything here; unchecked by the runtime's exclusivity checks, which each
    /// request's callbacks paid for several times. A stream is found by id with `stream(_:)`.
    @exclusivity(unchecked) private var streams = HTTP2StreamTable()
    /// The stream `stream(_:)` found last, until it leaves `streams`. Unowned: `streams` owns it.
    private var recentID: Int32 = 0
    @exclusivity(unchecked) private unowned(unsafe) var recentStream: HTTP2Stream?
    private var state = State.open
    private var shuttingDown = false
    private var lastClientStreamID: Int32 = 0
    /// The idle timeout while open; the drain's grace period once closing.
    private let timer: LoopTimer
    /// When the last stream ended; nil while one is open. The idle timer is not moved as streams come
    /// and go (re-arming it each time the table emptied was ~0.6% of a small request): when it fires,
    /// it looks here and waits out the rest, if any.
    private var idleSince: Moment? = .now
    /// Plain sockets are written from the loop's turn (see `WriteThrough`); TLS by libevent.
    private let writes: WriteThrough
    /// Plain sockets are read by our own read event (see `ReadThrough`); TLS by libevent.
    private var reads: ReadThrough?
    private var writeRequested = false
    /// Streams whose response asked for service from this loop's own thread (a handler on the loop,
    /// often still inside the callback that dispatched it): served together before the next pump.
    private var servicePending: [Int32] = []
    /// Request fields decoded before, found again by nghttp2's buffers (see `HTTP2FieldCache`).
    private let fieldCache = HTTP2FieldCache()
    /// The last request's head, for a header block that repeats it (see `HTTP2HeadMemo`).
    private let headMemo = HTTP2HeadMemo()
    /// Taken after each read (the bytes before any read came with the connection): every request
    /// that read brought was received by then (``Request/receivedAt``).
    private var lastRead = Moment.now

    init(bev: OpaquePointer, scheme: String, remoteAddress: String, loop: EventLoop, context: ServerContext, registry: ConnectionRegistry) {
        self.bev = bev
        self.scheme = scheme
        writes = WriteThrough(enabled: scheme == "http")
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.context = context
        self.registry = registry
        settings = context.configuration.http2
        timer = LoopTimer(loop: loop)
    }

    // MARK: Set-up

    func start() {
        guard let bev else { return }
        let me = Unmanaged.passUnretained(self).toOpaque()
        session = makeSession(userData: me)
        guard let session else { return close(reason: "nghttp2 session could not be created") }

        let entries: [nghttp2_settings_entry] = [
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
            // RFC 8441: WebSocket over HTTP/2 with extended CONNECT.
            .init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)

        bufferevent_setcb(bev, { _, ctx in
            HTTP2Connection.from(ctx).readable()
        }, { _, ctx in
            HTTP2Connection.from(ctx).writable()
        }, { _, events, ctx in
            HTTP2Connection.from(ctx).event(events)
        }, me)
        // Refill the socket's output when it falls to half the limit.
        bufferevent_setwatermark(bev, Int16(EV_WRITE), settings.outputBufferLimit / 2, 0)
        writes.start(bev)
        if writes.enabled {
            reads = ReadThrough(bev)
            reads?.start()
        }
        armIdleTimer(after: context.configuration.timeouts.idle)
        readable()  // the preface (and maybe more) may be in the input already
        pump()
    }

    private func makeSession(userData: UnsafeMutableRawPointer) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            HTTP2Connection.inCall(user) { $0.send(data!, length) }
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, user in
            HTTP2Connection.inCall(user) { $0.sendData(frame!, header!, length) }
        }
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, header, user in
            HTTP2Connection.inCall(user) { $0.beginFrame(header!.pointee) }
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            HTTP2Connection.inCall(user) { $0.beginHeaders(frame!) }
        }
        nghttp2_session_callbacks_set_on_header_callback2(callbacks) { _, frame, name, value, _, user in
            HTTP2Connection.inCall(user) { $0.header(frame!, name!, value!) }
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
            HTTP2Connection.inCall(user) { $0.dataChunk(id, UnsafeBufferPointer(start: data, count: length)) }
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            HTTP2Connection.inCall(user) { $0.frameReceived(frame!) }
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            HTTP2Connection.inCall(user) { $0.streamClosed(id, code) }
        }

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // Window updates follow what handlers consume, not what arrives.
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_stream_reset_rate_limit(option, settings.streamResetBurst, settings.streamResetRatePerSecond)
        nghttp2_option_set_max_continuations(option, settings.maxContinuations)

        var session: OpaquePointer?
        guard nghttp2_session_server_new2(&session, callbacks, userData, option) == 0 else { return nil }
        return session
    }

    private static func from(_ ctx: UnsafeMutableRawPointer?) -> HTTP2Connection {
        Unmanaged<HTTP2Connection>.fromOpaque(ctx!).takeUnretainedValue()
    }

    /// For nghttp2's callbacks, which only run inside a call on this connection (`readable`, `pump`,
    /// a submit) or inside the session's deletion (whose job holds the connection), so it is alive
    /// without a retain. Each retain and release went through the side
    /// table the connection's weak references give it: ~5% of a small request.
    private static func inCall<T>(_ user: UnsafeMutableRawPointer?, _ body: (HTTP2Connection) -> T) -> T {
        Unmanaged<HTTP2Connection>.fromOpaque(user!)._withUnsafeGuaranteedRef(body)
    }

    // MARK: The pump

    private func readable() {
        guard state == .open, let bev, let session else { return }
        lastRead = .now
        let input = bufferevent_get_input(bev)
        while state == .open {
            let length = evbuffer_get_length(input)
            if length == 0 { break }
            let data = evbuffer_pullup(input, -1)
            let consumed = nghttp2_session_mem_recv(session, data, length)
            if consumed < 0 {
                context.configuration.logger.debug("\(remoteAddress): h2 receive error: \(String(cString: nghttp2_strerror(Int32(consumed))))")
                if consumed == Int(NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue) {
                    return close(reason: "bad HTTP/2 preface")
                }
                nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR.rawValue)
                pump()
                return closeAfterFlush()
            }
            evbuffer_drain(input, consumed)
        }
        servePending()
        pump()
    }

    /// Lets nghttp2 write what it can; closes once neither side wants anything more.
    private func pump() {
        guard state != .closed, let session else { return }
        let rv = nghttp2_session_send(session)
        if rv != 0 {
            return close(reason: "h2 send error: \(String(cString: nghttp2_strerror(rv)))")
        }
        requestWrite()
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            closeAfterFlush()
        }
    }

    private func send(_ data: UnsafePointer<UInt8>, _ length: Int) -> Int {
        guard let bev else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        let output = bufferevent_get_output(bev)
        if evbuffer_get_length(output) >= settings.outputBufferLimit { return Int(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
        evbuffer_add(output, data, length)
        return length
    }

    private func requestWrite() {
        guard let bev, evbuffer_get_length(bufferevent_get_output(bev)) > 0 else { return }
        atEndOfTurn()
    }

    /// Has `writeQueuedOutput` run once this loop turn's jobs are done (once, however often asked).
    private func atEndOfTurn() {
        guard !writeRequested else { return }
        writeRequested = true
        loop.writeSoon(self)
    }

    /// Loop thread: the stream's response has something for nghttp2 (see `servicePending`).
    private func serviceSoon(_ id: Int32) {
        servicePending.append(id)
        atEndOfTurn()
    }

    /// Serves the streams that asked from this thread; the caller pumps once for all of them.
    private func servePending() {
        guard !servicePending.isEmpty else { return }
        let due = servicePending
        servicePending.removeAll(keepingCapacity: true)
        for id in due { serviceStream(id, pumping: false) }
    }

    func writeQueuedOutput() {
        writeRequested = false
        if !servicePending.isEmpty {
            servePending()
            pump()
        }
        // nghttp2 stops at the output limit; while the socket takes all of it, write on without a poll
        // in between (as nghttpd does) up to a budget per turn, so one connection cannot hold the loop.
        // One write per turn gave the peer a wake-up per 48 KiB; a large body went ~10% slower.
        var budget = Self.writeBudgetPerTurn
        while let bev, writes.flush(bev) {
            if state == .draining { return close(reason: "session done") }
            guard budget > 0, let session, nghttp2_session_want_write(session) != 0 else { return }
            // Also asks for the next turn's write, which takes over when the budget runs out.
            pump()
            if let bev = self.bev { budget -= evbuffer_get_length(bufferevent_get_output(bev)) }
        }
    }

    /// Bytes one turn writes for this connection at most: four of libevent's largest single writes.
    private static let writeBudgetPerTurn = 4 * BuffereventTuning.maxSingleIO

    private func writable() {
        guard let bev else { return }
        writes.written(bev)
        if state == .draining {
            if evbuffer_get_length(bufferevent_get_output(bev)) == 0 { close(reason: "session done") }
            return
        }
        pump()
    }

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_EOF | BEV_EVENT_ERROR) != 0 {
            close(reason: events & Int16(BEV_EVENT_EOF) != 0 ? "peer closed" : "socket error")
        }
    }

    // MARK: Receiving

    private func beginFrame(_ header: nghttp2_frame_hd) -> Int32 {
        // RFC 9113 §5.1.1: a new stream's id must exceed every id the client used before. nghttp2
        // ignores a HEADERS frame that goes backwards; the RFC wants a connection error.
        if header.type == UInt8(NGHTTP2_HEADERS.rawValue), header.stream_id % 2 == 1,
           header.stream_id <= lastClientStreamID, stream(header.stream_id) == nil, let session {
            nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR.rawValue)
        }
        return 0
    }

    private func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let hd = frame.pointee.hd
        guard hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
        let stream = HTTP2Stream(id: hd.stream_id)
        streams.add(stream)
        headMemo.begin()
        // Unretained: `streams` owns it until nghttp2 closes the stream, and nghttp2 hands the pointer
        // out only while its stream is open (see `stream(_:)`).
        if let session { nghttp2_session_set_stream_user_data(session, hd.stream_id, Unmanaged.passUnretained(stream).toOpaque()) }
        lastClientStreamID = max(lastClientStreamID, hd.stream_id)
        idleSince = nil
        return 0
    }

    private func header(_ frame: UnsafePointer<nghttp2_frame>, _ name: OpaquePointer, _ value: OpaquePointer) -> Int32 {
        guard let stream = stream(frame.pointee.hd.stream_id), !stream.dispatched else { return 0 }
        let pair = HTTP2BufferPair(name: name, value: value)
        if headMemo.follows(pair) { return 0 }
        // nghttp2 has already refused malformed names, uppercase and connection-specific fields,
        // and unknown request pseudo-headers.
        let decoded = fieldCache.decode(pair)
        // The path is never part of the memo (see `HTTP2HeadMemo`): a new one does not depart from it.
        if case .path(let path) = decoded {
            stream.path = path
            return 0
        }
        for earlier in headMemo.depart() { take(fieldCache.decode(earlier), into: stream) }
        headMemo.record(pair)
        take(decoded, into: stream)
        return 0
    }

    private func take(_ decoded: HTTP2FieldCache.Decoded, into stream: HTTP2Stream) {
        switch decoded {
        case .method(let method): stream.method = method
        case .scheme(let scheme): stream.scheme = scheme
        case .authority(let authority): stream.authority = authority
        case .path(let path): stream.path = path
        case .connectProtocol(let name): stream.connectProtocol = name
        case .field(let field):
            // Room for a usual request's fields at once: grown one by one, they took 4 allocations.
            if stream.fields.isEmpty { stream.fields.reserveCapacity(Self.expectedRequestFields) }
            stream.fields.append(field)
        case .ignored: break
        }
    }

    /// Regular fields a request usually has (a browser sends ~10, curl and h2load 2 or 3).
    private static let expectedRequestFields = 12

    private func dataChunk(_ id: Int32, _ data: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let session else { return 0 }
        guard let stream = stream(id) else {
            // Nobody will read these bytes: give the connection window back at once.
            nghttp2_session_consume_connection(session, data.count)
            return 0
        }
        stream.bodyBytes += data.count
        if stream.discardingBody {
            if stream.bodyBytes > context.configuration.limits.maxBodyBytes {
                nghttp2_session_consume_connection(session, data.count)
                nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
            } else {
                nghttp2_session_consume(session, id, data.count)
            }
            return 0
        }
        guard let inbound = stream.inbound else {
            nghttp2_session_consume_connection(session, data.count)
            return 0
        }
        if stream.bodyBytes > context.configuration.limits.maxBodyBytes {
            nghttp2_session_consume_connection(session, data.count)
            inbound.fail(HTTPError(.contentTooLarge, "request body too large"))
            stream.inbound = nil
            return 0
        }
        // The connection window reopens at once, so one handler that stops reading cannot starve the
        // other streams; the stream's own window reopens only as its handler reads (bodyConsumed).
        // Memory stays bounded by the stream window times the concurrent-stream limit.
        nghttp2_session_consume_connection(session, data.count)
        inbound.append(Array(data))
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let hd = frame.pointee.hd
        guard let stream = stream(hd.stream_id) else { return 0 }
        let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        if hd.type == UInt8(NGHTTP2_HEADERS.rawValue), !stream.dispatched {
            // The whole request head is here (nghttp2 has joined any CONTINUATION frames).
            dispatch(stream, hasBody: !endStream)
        } else if endStream, hd.type == UInt8(NGHTTP2_HEADERS.rawValue) || hd.type == UInt8(NGHTTP2_DATA.rawValue) {
            stream.inbound?.finish()
            stream.inbound = nil
        }
        return 0
    }

    private func streamClosed(_ id: Int32, _ code: UInt32) -> Int32 {
        guard let stream = stream(id) else { return 0 }
        streams.remove(stream)
        if id == recentID { (recentID, recentStream) = (0, nil) }
        if let session { nghttp2_session_set_stream_user_data(session, id, nil) }
        let reason = code == 0 ? "stream closed" : "stream reset (\(code))"
        stream.inbound?.fail(OutboundClosedError(reason: reason))
        if let sink = stream.sink {
            sink.queue.close(reason: reason)
        }
        stream.task?.cancel()
        if streams.isEmpty {
            if shuttingDown {
                pumpLater()
            } else {
                idleSince = .now
                if !timer.isScheduled { armIdleTimer(after: context.configuration.timeouts.idle) }
            }
        }
        return 0
    }

    /// The open stream `id`: from the pointer kept with nghttp2's own stream, set at its first HEADERS
    /// frame and cleared when it closes (nghttp2's table is the one lookup by id; a request's
    /// callbacks ask ~12 times). Loop thread only: it remembers what it found.
    private func stream(_ id: Int32) -> HTTP2Stream? {
        // The stream whose frames arrive now (a request's header callbacks ask for it six times or so)
        // without nghttp2's hash lookup: ~1% of a small request.
        if id == recentID, let recent = recentStream { return recent }
        guard let session, let pointer = nghttp2_session_get_stream_user_data(session, id) else { return nil }
        let stream = Unmanaged<HTTP2Stream>.fromOpaque(pointer).takeUnretainedValue()
        (recentID, recentStream) = (id, stream)
        return stream
    }

    /// The handler took `count` body bytes: reopen that much of its stream's window.
    private func bodyConsumed(_ id: Int32, _ count: Int) {
        guard state == .open, let session, stream(id) != nil else { return }
        nghttp2_session_consume_stream(session, id, count)
        pump()
    }

    // MARK: Requests

    private func dispatch(_ stream: HTTP2Stream, hasBody: Bool) {
        stream.dispatched = true
        guard let head = requestHead(stream) else {
            return resetInCallback(stream.id, NGHTTP2_PROTOCOL_ERROR)
        }
        let method = head.method
        let bodyStream: InboundBody
        if hasBody {
            let loop = self.loop
            let weakSelf = WeakHTTP2Connection(self)
            let id = stream.id
            // The peer cannot send more than the stream window we advertised, so that is the buffer.
            bodyStream = InboundBody(softLimit: Int(settings.initialWindowSize)) { count in
                loop.execute { weakSelf.connection?.bodyConsumed(id, count) }
            }
            stream.inbound = bodyStream
        } else {
            bodyStream = .empty()
        }
        var request = Request(head: head, bodyStream: bodyStream, remoteAddress: remoteAddress, received: lastRead)
        let route = context.route(request)
        request.parameters = route.parameters
        let logger = context.configuration.logger
        if let handle = HandlerRunner.answersAtOnce(route.handler, hasBody: hasBody, configuration: context.configuration) {
            guard let response = HandlerRunner.immediateResponse(handle, request: request, logger: logger) else {
                return resetInCallback(stream.id, NGHTTP2_INTERNAL_ERROR)
            }
            if response.file == nil { return respondWhole(stream, response, isHead: method == .head) }
            // A file goes through the queue, which reads it (or references its bytes) frame by frame.
            let sink = makeSink(for: stream, isHead: method == .head)
            return HandlerRunner.answerAtOnce(response, sink: sink, logger: logger)
        }
        let sink = makeSink(for: stream, isHead: method == .head)
        let maxBody = context.configuration.limits.maxBodyBytes
        let faults = context.configuration.faultInjection
        let loop = self.loop
        // `[request]`: captured by value; a captured `var` is a heap box, made even when no task starts.
        stream.task = HandlerRunner.start(placement: context.configuration.handlerPlacement, loop: loop) { [request] in
            await HandlerRunner.run(route.handler, request: request, sink: sink, loop: loop, maxBodyBytes: maxBody, logger: logger,
                                    faultInjection: faults)
        }
    }

    /// The request head of `stream`, whose header block has ended: the memo's, when the block
    /// repeated it, else built from the fields decoded (and remembered); nil without a valid method.
    private func requestHead(_ stream: HTTP2Stream) -> HTTPRequest? {
        if let head = headMemo.head(path: stream.path) { return head }
        for earlier in headMemo.depart() { take(fieldCache.decode(earlier), into: stream) }
        guard let method = stream.method else { return nil }
        // Taken out of the stream, which needs them no more: moved, not retained here and released
        // again when the stream goes.
        var fields = HTTPFields()
        swap(&fields, &stream.fields)
        var head = HTTPRequest(
            method: method, scheme: stream.scheme.take() ?? scheme, authority: stream.authority.take(), path: stream.path.take(),
            headerFields: fields)
        // Set only when there is one: the setter costs even for nil.
        if let name = stream.connectProtocol { head.extendedConnectProtocol = name }
        headMemo.remember(head)
        return head
    }

    private func makeSink(for stream: HTTP2Stream, isHead: Bool) -> HTTP2ResponseSink {
        let loop = self.loop
        let weakSelf = WeakHTTP2Connection(self)
        let id = stream.id
        let service: @Sendable () -> Void = {
            // From the loop's own thread no job is needed: the stream joins the next pump's batch.
            if loop.inLoop { weakSelf.connection?.serviceSoon(id) } else { loop.execute { weakSelf.connection?.serviceStream(id) } }
        }
        let queue = OutboundQueue(watermarks: context.configuration.watermarks, wake: service)
        let sink = HTTP2ResponseSink(queue: queue, isHeadRequest: isHead, decorate: context.decorate, service: service)
        stream.sink = sink
        return sink
    }

    // MARK: Responses

    /// Submits a whole response an immediate route gave, from inside the callback that completed the
    /// request (nghttp2 allows submits there; the pump after the read sends it). Its body stays with
    /// the stream until nghttp2 pulls it: a small response needs no sink, queue, lock or service job
    /// (they were 6 of a 100-byte h2 request's 16 allocations).
    private func respondWhole(_ stream: HTTP2Stream, _ response: Response, isHead: Bool) {
        let code = response.statusCode
        let bodyless = HTTP2ResponseSink.isBodyless(status: code, isHeadRequest: isHead) || response.body.isEmpty
        if !bodyless { stream.wholeBody = response.body }
        let submitted: Int32
        if let encoded = response.encodedFields, encoded.standsAlone(decorated: context.decorate != nil), (100...999).contains(code),
           let session {
            let id = stream.id
            submitted = HTTP2HeaderBlock.withNameValues(status: code, encoded: encoded, appending: context.serverFields.currentEncoded) {
                Self.submitResponse(session, id, $0, $1, endsStream: bodyless)
            }
        } else {
            var head = HandlerRunner.framedHead(response, code: code)
            context.decorate?(&head.headerFields)
            submitted = submitResponse(stream.id, head, endsStream: bodyless)
        }
        if submitted != 0 { resetInCallback(stream.id, NGHTTP2_INTERNAL_ERROR) }
    }

    /// A stream reset from inside one of nghttp2's callbacks: submitted only, since the session must
    /// not be re-entered to send it (the pump that follows the read does).
    private func resetInCallback(_ id: Int32, _ code: nghttp2_error_code) {
        guard let session else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code.rawValue)
    }

    /// Submits a response head; a body follows from `readBody` unless the head ends the stream.
    private func submitResponse(_ id: Int32, _ head: HTTPResponse, endsStream: Bool) -> Int32 {
        guard let session else { return -1 }
        return HTTP2HeaderBlock.withNameValues(
            status: head.pseudoHeaderFields.status, fields: head.headerFields, appending: context.serverFields.current
        ) { Self.submitResponse(session, id, $0, $1, endsStream: endsStream) }
    }

    /// Submits a response head given as nghttp2's name/value pairs. Static, so that the closures that
    /// call it capture no connection (whose weak references make each retain take the slow path).
    private static func submitResponse(
        _ session: OpaquePointer, _ id: Int32, _ nva: UnsafePointer<nghttp2_nv>, _ count: Int, endsStream: Bool
    ) -> Int32 {
        if endsStream {
            return nghttp2_submit_response(session, id, nva, count, nil)
        }
        var provider = nghttp2_data_provider(
            source: nghttp2_data_source(ptr: nil),
            read_callback: { _, id, buffer, length, flags, _, user in
                HTTP2Connection.inCall(user) { $0.readBody(id, buffer!, length, flags!) }
            })
        return nghttp2_submit_response(session, id, nva, count, &provider)
    }

    /// Submits a waiting head, resumes a deferred body or resets an aborted stream, then pumps unless
    /// the caller pumps for a batch. Loop thread.
    private func serviceStream(_ id: Int32, pumping: Bool = true) {
        guard state == .open, let session, let stream = stream(id), let sink = stream.sink else { return }
        if sink.isConnectionAborted {
            nghttp2_session_terminate_session(session, NGHTTP2_INTERNAL_ERROR.rawValue)
            pump()
            return closeAfterFlush()
        }
        if sink.isAborted {
            return reset(id, NGHTTP2_INTERNAL_ERROR)
        }
        if let (head, endsStream) = sink.takeHead() {
            if submitResponse(id, head, endsStream: endsStream) != 0 { return reset(id, NGHTTP2_INTERNAL_ERROR) }
        } else if stream.deferred {
            stream.deferred = false
            nghttp2_session_resume_data(session, id)
        }
        if pumping { pump() }
    }

    /// nghttp2 pulls up to `length` body bytes for `id` (already within the peer's windows).
    private func readBody(_ id: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int, _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = stream(id), let session else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        if let body = stream.wholeBody {
            let count = min(length, body.count - stream.wholeBodySent)
            if stream.wholeBodySent + count == body.count { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
            flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
            return count
        }
        guard let sink = stream.sink else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        // Only sized here: the bytes go from the queue to the socket's output in `sendData`, one copy
        // fewer than through nghttp2's frame buffer.
        let (written, ended, trailers) = sink.queue.peek(upTo: length)
        stream.frameEndsBody = ended
        if ended {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if let inbound = stream.inbound {
                // The response is complete and nobody will read the rest of the request body. RFC
                // 9113 §8.1 allows RST_STREAM(NO_ERROR) here, but curl 7.88 reports that as a
                // failed transfer; so take and drop the rest instead, within the body limit.
                let unread = inbound.bufferedBytes
                inbound.fail(OutboundClosedError(reason: "response complete"))
                stream.inbound = nil
                stream.discardingBody = true
                if unread > 0 { nghttp2_session_consume_stream(session, id, unread) }
            }
            if let trailers, !trailers.isEmpty {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                _ = HTTP2HeaderBlock.withNameValues(status: nil, fields: trailers) { nva, count in
                    nghttp2_submit_trailer(session, id, nva, count)
                }
            }
        }
        if written == 0 && flags.pointee & NGHTTP2_DATA_FLAG_EOF.rawValue == 0 {
            stream.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        return written
    }

    /// Writes a DATA frame nghttp2 sized in `readBody`: its 9-byte header and its bytes, copied from
    /// the stream's whole body or queue (or read from a queued file) straight into the socket's output
    /// (no padding: we never ask for any) or, for a file whose bytes are kept in memory, handed to the
    /// output by reference after the header.
    private func sendData(_ frame: UnsafeMutablePointer<nghttp2_frame>, _ header: UnsafePointer<UInt8>, _ length: Int) -> Int32 {
        let id = frame.pointee.hd.stream_id
        guard let bev, let stream = stream(id), let output = bufferevent_get_output(bev) else {
            return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
        }
        if evbuffer_get_length(output) >= settings.outputBufferLimit { return NGHTTP2_ERR_WOULDBLOCK.rawValue }
        if let body = stream.wholeBody {
            let start = stream.wholeBodySent
            guard start + length <= body.count else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            stream.wholeBodySent += length
            return writeFrame(to: output, header: header, length: length) { payload in
                body.withUnsafeBytes { payload.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
                return 0
            }
        }
        guard let sink = stream.sink else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        // Bytes kept in memory (a cached file's) go by reference: only the header is copied.
        if length >= FileRegion.referenceMinimum, let taken = sink.queue.takeInMemory(length, takingEnd: stream.frameEndsBody) {
            guard evbuffer_add(output, header, 9) == 0, taken.bytes.addReference(to: output, offset: taken.offset, count: length) else {
                return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
            return 0
        }
        return writeFrame(to: output, header: header, length: length) { payload in
            // An empty frame (the body's end alone) still takes the end marker from the queue.
            do {
                // Acknowledged as it is copied: the bytes then sit in the socket's output, which the
                // output limit bounds (should the frame fail below, the connection fails with it).
                let (copied, _, _) = try sink.queue.read(into: payload, takingEnd: stream.frameEndsBody, acknowledging: true)
                // Only the producer appends meanwhile, so what was sized is still there.
                return copied == length ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            } catch {
                // A file that could not be read: nothing was committed, so nghttp2 resets only this
                // stream (RST_STREAM INTERNAL_ERROR) and the connection goes on.
                context.configuration.logger.warning("\(remoteAddress): h2 stream \(id): \(error)")
                sink.queue.close(reason: "\(error)")
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
            }
        }
    }

    /// Puts a DATA frame into `output` in one piece: the header, then `fill`'s `length` payload bytes
    /// (it returns 0, or the nghttp2 error to fail the frame with, nothing of it committed). A large
    /// frame goes in a frame buffer of its own, handed to libevent by reference; a small one into the
    /// room the output's last chain has left.
    private func writeFrame(
        to output: OpaquePointer, header: UnsafePointer<UInt8>, length: Int, fill: (UnsafeMutableRawBufferPointer) -> Int32
    ) -> Int32 {
        let pooled = length >= Self.pooledFrameMinimum && 9 + length <= Int(SLUICE_FRAME_BUFFER_SIZE)
        var space = iovec(iov_base: nil, iov_len: 0)  // evbuffer_iovec is a macro for it
        if pooled {
            space.iov_base = sluice_frame_buffer_take()
        } else if evbuffer_reserve_space(output, 9 + length, &space, 1) != 1 {
            return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
        }
        guard let base = space.iov_base else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        base.copyMemory(from: header, byteCount: 9)
        let failure = fill(UnsafeMutableRawBufferPointer(start: base + 9, count: length))
        guard failure == 0 else {
            if pooled { sluice_frame_buffer_release(base, 0, nil) }
            return failure
        }
        if pooled {
            // libevent gives the buffer back (sluice_frame_buffer_release) once it has written it.
            guard evbuffer_add_reference(output, base, 9 + length, sluice_frame_buffer_release, nil) == 0 else {
                sluice_frame_buffer_release(base, 0, nil)
                return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
        } else {
            space.iov_len = 9 + length
            evbuffer_commit_space(output, &space, 1)
        }
        return 0
    }

    /// Frames from this size on take a frame buffer (see `sendData`): below it, the room libevent's last
    /// chain has left usually holds them without an allocation.
    private static let pooledFrameMinimum = 4096

    private func reset(_ id: Int32, _ code: nghttp2_error_code) {
        guard let session else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code.rawValue)
        pump()
    }

    // MARK: Timers and closing

    private func armIdleTimer(after delay: Duration) {
        let idle = context.configuration.timeouts.idle
        timer.schedule(after: delay, common: delay == idle) { [weak self] in
            self?.idleTimerFired()
        }
    }

    /// GOAWAY once no stream has been open for the idle timeout; otherwise the timer waits again, the
    /// rest of the timeout or (a stream open) all of it.
    private func idleTimerFired() {
        guard state == .open else { return }
        let idle = context.configuration.timeouts.idle
        guard let since = idleSince else { return armIdleTimer(after: idle) }
        let left = idle - Moment.now.since(since)
        if left <= .zero { goAway() } else { armIdleTimer(after: left) }
    }

    private func goAway() {
        guard state == .open, let session else { return }
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                              NGHTTP2_NO_ERROR.rawValue, nil, 0)
        pump()
        if streams.isEmpty { closeAfterFlush() }
    }

    /// Pumps on the next loop turn: from inside an nghttp2 callback, the session must not be re-entered.
    private func pumpLater() {
        let weakSelf = WeakHTTP2Connection(self)
        loop.execute {
            guard let connection = weakSelf.connection else { return }
            connection.pump()
            if connection.shuttingDown && connection.streams.isEmpty { connection.closeAfterFlush() }
        }
    }

    /// Graceful shutdown: GOAWAY now, close when the streams in flight are done.
    func beginShutdown() {
        shuttingDown = true
        goAway()
    }

    private func closeAfterFlush() {
        guard state == .open, let bev else { return }
        state = .draining
        timer.cancel()
        bufferevent_disable(bev, Int16(EV_READ))
        reads?.stop()
        if evbuffer_get_length(bufferevent_get_output(bev)) == 0 {
            close(reason: "session done")
        } else {
            timer.schedule(after: context.configuration.timeouts.shutdownGrace) { [weak self] in
                self?.close(reason: "peer stopped reading while draining")
            }
        }
    }

    func close(reason: String) {
        guard state != .closed else { return }
        state = .closed
        timer.cancel()
        for stream in streams.all {
            stream.sink?.queue.close(reason: reason)
            stream.task?.cancel()
        }
        streams.removeAll()
        (recentID, recentStream) = (0, nil)
        fieldCache.removeAll()
        headMemo.removeAll()
        if let bev {
            self.bev = nil
            reads?.close()
            bufferevent_free(bev)
        }
        context.configuration.logger.trace("\(remoteAddress): h2 closed (\(reason))")
        // Never delete a session from inside one of its own callbacks: do it on the next turn.
        let doomed = UnsafeSendable(session)
        session = nil
        let me = UnsafeSendable(self)
        loop.execute {
            if let s = doomed.value { nghttp2_session_del(s) }
            me.value.registry.remove(me.value)
        }
    }
}

/// A weak reference a wake-up job carries across threads; dereferenced only on the connection's loop.
struct WeakHTTP2Connection: @unchecked Sendable {
    weak var connection: HTTP2Connection?
    init(_ connection: HTTP2Connection) { self.connection = connection }
}
