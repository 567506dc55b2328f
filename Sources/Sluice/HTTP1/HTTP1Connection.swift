import CLibevent
import HTTPTypes
import Logging
import SluiceCore

/// One HTTP/1.1 connection, confined to its event loop for its whole life.
///
/// One pump: readable → parse (one request at a time, so pipelined requests are answered in order)
/// → start the handler Task → its bytes arrive through an ``OutboundQueue`` → the loop moves them into
/// the bufferevent → at the end of the loop's turn they are written (``WriteThrough`` on a plain socket;
/// libevent writes for TLS and whatever the socket did not take). The connection stops reading while a response is in
/// flight and its input buffer is full, so a pipelining client cannot grow memory without bound.
final class HTTP1Connection: ServerConnection, DeferredWriter {
    private enum State { case open, draining, closed }

    let loop: EventLoop
    let remoteAddress: String
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private var bev: OpaquePointer?
    private let parser: HTTP1RequestParser
    private let timer: LoopTimer
    private var state = State.open
    private var shuttingDown = false

    // The request being received.
    /// True from a request's first byte until its end.
    private var requestStarted = false
    /// The body of the request being received, while it streams to the handler.
    private var inbound: InboundBody?
    /// The input broke mid-request while a handler was running: close after its response.
    private var parseFailed = false
    /// Set once the connection has switched protocols (WebSocket): the raw bytes' reader.
    private var upgraded: InboundBody?

    // The response being sent.
    private var exchange: (queue: OutboundQueue, sink: HTTP1ResponseSink, task: Task<Void, Never>?)?
    /// Bytes moved into the socket's output buffer, per queue, oldest first: acknowledged to their
    /// queue as libevent writes them, so pending counts hold until bytes reach the kernel.
    private var inOutput: [(queue: OutboundQueue, bytes: Int)] = []

    /// `"http"` or `"https"`, for the request's scheme.
    private let scheme: String
    /// Plain sockets are written from the loop's turn (see `WriteThrough`); TLS by libevent.
    private let writes: WriteThrough
    /// Plain sockets are read by our own read event (see `ReadThrough`); TLS by libevent.
    private var reads: ReadThrough?
    private var writeRequested = false
    /// The response's queue has bytes for the output, asked from this loop's thread (see `flushAtEndOfTurn`).
    private var flushPending = false

    /// Takes over `bev` (this connection frees it); bytes already in its input are parsed first.
    init(bev: OpaquePointer, scheme: String, remoteAddress: String, loop: EventLoop, context: ServerContext, registry: ConnectionRegistry) {
        self.loop = loop
        self.remoteAddress = remoteAddress
        self.context = context
        self.registry = registry
        self.scheme = scheme
        self.bev = bev
        writes = WriteThrough(enabled: scheme == "http")
        parser = HTTP1RequestParser(limits: context.configuration.limits)
        timer = LoopTimer(loop: loop)
    }

    /// Registers the callbacks and starts reading. Loop thread only.
    func start() {
        guard let bev else { return }
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            HTTP1Connection.from(ctx).readable()
        }, { _, ctx in
            HTTP1Connection.from(ctx).writable()
        }, { _, events, ctx in
            HTTP1Connection.from(ctx).event(events)
        }, me)
        // Stop reading once this much unparsed input waits (a pipelining client while a response is
        // in flight): a header block at its limit plus one socket read.
        bufferevent_setwatermark(bev, Int16(EV_READ), 0, context.configuration.limits.maxHeaderBytes + 64 * 1024)
        evbuffer_add_cb(bufferevent_get_output(bev), { _, info, ctx in
            guard let info, info.pointee.n_deleted > 0 else { return }
            HTTP1Connection.from(ctx).outputWritten(info.pointee.n_deleted)
        }, me)
        writes.start(bev)
        if writes.enabled {
            reads = ReadThrough(bev)
            reads?.start()
        }
        armIdleTimer()
        processInput()
    }

    private static func from(_ ctx: UnsafeMutableRawPointer?) -> HTTP1Connection {
        Unmanaged<HTTP1Connection>.fromOpaque(ctx!).takeUnretainedValue()
    }

    // MARK: Input

    private func readable() {
        processInput()
    }

    private func processInput() {
        guard state == .open, let bev else { return }
        let input = bufferevent_get_input(bev)
        // One request at a time: after its end the parser pauses until the response is out, so
        // pipelined requests are answered in order. While its body streams to the handler, parsing
        // stops whenever the handler is behind (the socket's read watermark then stops reading).
        while state == .open, !parseFailed {
            if let upgraded { return feedUpgraded(upgraded, input) }
            if parser.isPaused { return }
            if let inbound, !inbound.hasRoom {
                timer.cancel()  // waiting for the handler, not for the peer
                return
            }
            let length = evbuffer_get_length(input)
            if length == 0 {
                if !requestStarted && exchange == nil {
                    armIdleTimer()
                } else if inbound != nil && !timer.isScheduled {
                    armBodyTimer()
                }
                return
            }
            if !requestStarted {
                requestStarted = true
                armHeadTimer()
            }
            let data = evbuffer_pullup(input, -1)
            let result = parser.feed(UnsafeRawBufferPointer(start: data, count: length))
            evbuffer_drain(input, result.consumed)
            for (index, event) in result.events.enumerated() {
                switch event {
                case .head(let head):
                    // Bodiless when the end follows at once; otherwise the body streams to the handler.
                    let complete = index + 1 < result.events.count && result.events[index + 1] == .end
                    if !complete {
                        armBodyTimer()
                        if head.versionMinor >= 1, head.header("expect")?.lowercased() == "100-continue" {
                            // The client waits for this before sending its body (curl: bodies over 1 KiB).
                            writeDirect(Self.continueBytes)
                        }
                    }
                    dispatch(head, hasBody: !complete)
                case .body(let bytes):
                    inbound?.append(bytes)
                    armBodyTimer()
                case .end:
                    timer.cancel()
                    inbound?.finish()
                    inbound = nil
                    requestStarted = false
                }
            }
            if let error = result.error {
                if exchange != nil {
                    // The handler is already running: it learns through its body, and the connection
                    // closes after its response since the rest of the input cannot be trusted.
                    parseFailed = true
                    timer.cancel()
                    inbound?.fail(HTTPError(error.status, error.message))
                    inbound = nil
                } else {
                    respondAndClose(error.status, error.message)
                }
                return
            }
            if result.consumed == 0 { return }
        }
    }

    /// After a protocol switch (WebSocket), every byte belongs to the new protocol's reader.
    private func feedUpgraded(_ body: InboundBody, _ input: OpaquePointer?) {
        timer.cancel()  // the new protocol keeps its own time (WebSocket pings)
        while body.hasRoom {
            let length = evbuffer_get_length(input)
            if length == 0 { return }
            var bytes = [UInt8](repeating: 0, count: length)
            bytes.withUnsafeMutableBytes { _ = evbuffer_remove(input, $0.baseAddress, length) }
            body.append(bytes)
        }
    }

    // MARK: Requests

    private func dispatch(_ h: HTTP1RequestHead, hasBody: Bool) {
        guard let method = HTTPRequest.Method(h.method) else { return respondAndClose(.badRequest, "bad method") }
        var fields = HTTPFields()
        fields.reserveCapacity(h.headers.count)
        // Host is picked up here: `fields[.host]` would join every value into a new String (~3%).
        var host: String?
        for (name, value) in h.headers {
            guard let fieldName = HTTPField.Name(name) else { return respondAndClose(.badRequest, "bad header name") }
            let field = HTTPField(name: fieldName, value: value)
            if fieldName.canonicalName.utf8.count == 4, fieldName == .hostHeader {
                // RFC 9112 §3.2: more than one Host is a 400.
                guard host == nil else { return respondAndClose(.badRequest, "more than one Host header") }
                host = field.value
            }
            fields.append(field)
        }
        if h.versionMinor >= 1 && host == nil { return respondAndClose(.badRequest, "missing Host header") }
        guard h.target.hasPrefix("/") || (method == .options && h.target == "*") else {
            return respondAndClose(.badRequest, "request target must be in origin form")
        }
        let requestHead = HTTPRequest(method: method, scheme: scheme, authority: host, path: h.target, headerFields: fields)

        let loop = self.loop
        let weakSelf = WeakConnection(self)
        // Parsing stopped for a full body (or upgraded stream) goes on once the handler has made room.
        let parseOn: @Sendable () -> Void = { loop.execute { weakSelf.connection?.processInput() } }
        let bodyBuffer = context.configuration.limits.streamedBodyBuffer
        let bodyStream: InboundBody
        if hasBody {
            bodyStream = InboundBody(softLimit: bodyBuffer, roomRegained: parseOn)
            inbound = bodyStream
        } else {
            bodyStream = .empty()
        }
        var request = Request(head: requestHead, bodyStream: bodyStream, remoteAddress: remoteAddress, received: .now)
        let route = context.route(request)
        if h.isUpgrade, case .webSocket(_, let options) = route.handler,
           case .success = WebSocketRoute.decide(request, options: options) {
            // From the 101 on, the connection carries WebSocket frames both ways.
            let raw = InboundBody(softLimit: bodyBuffer, roomRegained: parseOn)
            upgraded = raw
            request.bodyStream = raw
        }

        let keepAlive = h.keepAlive && !shuttingDown
        let queue = OutboundQueue(watermarks: context.configuration.watermarks) {
            // From the loop's own thread (a handler on the loop) no job is needed: the queue drains into
            // the output at the end of this turn, just before the write.
            if loop.inLoop { weakSelf.connection?.flushAtEndOfTurn() } else { loop.execute { weakSelf.connection?.flushOutput() } }
        }
        let sink = HTTP1ResponseSink(
            queue: queue, isHeadRequest: method == .head, http10: h.versionMinor == 0,
            keepAlive: keepAlive, serverFields: context.serverFields, decorate: context.decorate)
        exchange = (queue, sink, nil)
        request.parameters = route.parameters
        let logger = context.configuration.logger
        if let handle = HandlerRunner.answersAtOnce(route.handler, hasBody: hasBody, configuration: context.configuration) {
            return HandlerRunner.answerAtOnce(handle, request: request, sink: sink, logger: logger)
        }
        let maxBody = context.configuration.limits.maxBodyBytes
        let faults = context.configuration.faultInjection
        // `[request]`: captured by value; a captured `var` is a heap box, made even when no task starts.
        exchange?.task = HandlerRunner.start(placement: context.configuration.handlerPlacement, loop: loop) { [request] in
            await HandlerRunner.run(route.handler, request: request, sink: sink, loop: loop, maxBodyBytes: maxBody, logger: logger,
                                    faultInjection: faults)
        }
    }

    // MARK: Output

    /// Moves everything the producer queued into the socket's output buffer. Loop thread.
    private func flushOutput() {
        guard state != .closed, let bev, let current = exchange, let output = bufferevent_get_output(bev) else { return }
        // A plain socket sends files with sendfile, whole; TLS must read them into the output, so it
        // takes a piece at a time and comes back for the rest as the output drains (`outputEmptied`).
        let sendfile = writes.enabled
        let fileLimit = sendfile ? Int.max : Self.tlsFilePiece
        for item in current.queue.drain(fileLimit: fileLimit) {
            switch item {
            case .bytes(let bytes):
                bytes.withUnsafeBytes { _ = evbuffer_add(output, $0.baseAddress, $0.count) }
                queued(bytes.count, from: current.queue)
            case .file(let region):
                do {
                    try region.append(to: output, sendfile: sendfile)
                } catch {
                    // The head promised a length this file cannot give: what is already in the output
                    // goes out, then the connection ends, so the peer sees the body cut short.
                    context.configuration.logger.warning("\(remoteAddress): \(error)")
                    current.queue.close(reason: "\(error)")
                    requestWrite()
                    return closeAfterFlush()
                }
                queued(region.count, from: current.queue)
            case .end:
                finishExchange(closing: current.sink.closesConnection)
                return
            }
        }
    }

    /// `count` bytes of `queue` went into the socket's output: acknowledged as they are written.
    private func queued(_ count: Int, from queue: OutboundQueue) {
        requestWrite()
        if let last = inOutput.last, last.queue === queue {
            inOutput[inOutput.count - 1].bytes += count
        } else {
            inOutput.append((queue, count))
        }
    }

    /// How much of a file a TLS connection reads into its output at a time.
    private static let tlsFilePiece = 256 * 1024

    private func outputWritten(_ count: Int) {
        var remaining = count
        while remaining > 0, !inOutput.isEmpty {
            let n = min(remaining, inOutput[0].bytes)
            inOutput[0].queue.acknowledge(n)
            inOutput[0].bytes -= n
            remaining -= n
            if inOutput[0].bytes == 0 { inOutput.removeFirst() }
        }
    }

    private func finishExchange(closing: Bool) {
        exchange = nil
        // A body the handler left unread would have to be read and thrown away; closing is cheaper.
        if closing || shuttingDown || parseFailed || !parser.isPaused {
            closeAfterFlush()
        } else {
            parser.resume()
            processInput()
        }
    }

    private func requestWrite() {
        guard !writeRequested else { return }
        writeRequested = true
        loop.writeSoon(self)
    }

    private func flushAtEndOfTurn() {
        flushPending = true
        requestWrite()
    }

    func writeQueuedOutput() {
        // Before the flag is cleared, so the drain's own request for a write adds no second turn. A
        // drain that ends a response parses the next pipelined request, whose answer may ask again.
        while flushPending {
            flushPending = false
            flushOutput()
        }
        writeRequested = false
        guard let bev else { return }
        if writes.flush(bev) { outputEmptied() }
    }

    private func writable() {
        guard let bev else { return }
        writes.written(bev)
        outputEmptied()
    }

    private func outputEmptied() {
        if state == .draining, let bev, evbuffer_get_length(bufferevent_get_output(bev)) == 0 {
            close(reason: "response complete")
        } else if let current = exchange, !current.queue.isEmpty {
            // The rest of a file that was read into the output a piece at a time (TLS): the queue
            // stays non-empty meanwhile, so no producer's write would wake us for it.
            flushOutput()
        }
    }

    private static let continueBytes = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private func writeDirect(_ bytes: [UInt8]) {
        guard let bev else { return }
        bytes.withUnsafeBytes { _ = evbuffer_add(bufferevent_get_output(bev), $0.baseAddress, $0.count) }
        requestWrite()
    }

    /// Answers from the loop itself (parse errors, timeouts) and closes once the bytes are out.
    private func respondAndClose(_ status: HTTPResponse.Status, _ message: String) {
        guard state == .open, bev != nil else { return }
        var fields: HTTPFields = [.contentType: "text/plain; charset=utf-8", .connection: "close"]
        context.decorate?(&fields)
        let text = Array((message.isEmpty ? status.reasonPhrase : message).utf8) + [10]
        fields[.contentLength] = String(text.count)
        writeDirect(HTTP1ResponseEncoder.head(HTTPResponse(status: status, headerFields: fields), appending: context.serverFields.current) + text)
        context.configuration.logger.debug("\(remoteAddress): \(status.code) \(message)")
        closeAfterFlush()
    }

    private func closeAfterFlush() {
        guard state == .open, let bev else { return }
        state = .draining
        timer.cancel()
        bufferevent_disable(bev, Int16(EV_READ))
        reads?.stop()
        // The output may be drained already; otherwise `writable` finishes the close.
        if evbuffer_get_length(bufferevent_get_output(bev)) == 0 {
            close(reason: "response complete")
        } else {
            // A peer that never reads must not keep a draining connection forever.
            timer.schedule(after: context.configuration.timeouts.shutdownGrace) { [weak self] in
                self?.close(reason: "peer stopped reading while draining")
            }
        }
    }

    // MARK: Timers

    private func armIdleTimer() {
        timer.schedule(after: context.configuration.timeouts.idle) { [weak self] in
            self?.close(reason: "idle timeout")
        }
    }

    private func armHeadTimer() {
        timer.schedule(after: context.configuration.timeouts.requestHead) { [weak self] in
            self?.respondAndClose(.requestTimeout, "request head not received in time")
        }
    }

    private func armBodyTimer() {
        timer.schedule(after: context.configuration.timeouts.bodyRead) { [weak self] in
            self?.respondAndClose(.requestTimeout, "request body stalled")
        }
    }

    // MARK: Closing

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_EOF | BEV_EVENT_ERROR) != 0 {
            close(reason: events & Int16(BEV_EVENT_EOF) != 0 ? "peer closed" : "socket error")
        }
    }

    /// Graceful shutdown: an idle connection closes now, a busy one after its current response.
    func beginShutdown() {
        shuttingDown = true
        if exchange == nil && state == .open { close(reason: "server shutting down") }
    }

    /// Closes at once: the handler is cancelled and its writer throws from now on. Loop thread.
    func close(reason: String) {
        guard state != .closed else { return }
        state = .closed
        timer.cancel()
        inbound?.fail(OutboundClosedError(reason: reason))
        inbound = nil
        upgraded?.fail(OutboundClosedError(reason: reason))
        upgraded = nil
        if let current = exchange {
            current.queue.close(reason: reason)
            current.task?.cancel()
            exchange = nil
        }
        for entry in inOutput { entry.queue.close(reason: reason) }
        inOutput.removeAll()
        if let bev {
            self.bev = nil
            reads?.close()
            bufferevent_free(bev)
        }
        context.configuration.logger.trace("\(remoteAddress): closed (\(reason))")
        // Unregister on the next turn: this may run inside one of our own libevent callbacks, and
        // the registry holds the last reference.
        let me = UnsafeSendable(self)
        loop.execute { me.value.registry.remove(me.value) }
    }
}

/// A weak reference that a wake-up job can carry across threads; it is only dereferenced on the
/// connection's own loop.
struct WeakConnection: @unchecked Sendable {
    weak var connection: HTTP1Connection?
    init(_ connection: HTTP1Connection) { self.connection = connection }
}

extension HTTPField.Name {
    /// `Host`: swift-http-types maps it to `:authority` and hides the plain name.
    static let hostHeader = HTTPField.Name("Host")!
}
