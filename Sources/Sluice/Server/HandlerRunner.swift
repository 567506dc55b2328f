import HTTPTypes
import Logging
import SluiceCore

/// Runs one route handler against one response sink, whatever protocol the sink speaks: turns a
/// returned ``Response`` or a thrown ``HTTPError`` into bytes, finishes streams the handler left
/// open, and keeps SSE heartbeats going.
enum HandlerRunner {
    /// Starts a handler's task where the configuration places it. On the connection's loop (the
    /// default) the task starts at once, inside the callback that completed the request, and runs
    /// until its first suspension: no job hop through the loop's queue (a trivial h2 handler answered
    /// ~15–20% more requests a second). On the concurrent pool it is an ordinary task, so a handler
    /// that blocks never runs on the loop.
    static func start(
        placement: HandlerPlacement, loop: EventLoop, _ operation: sending @escaping @isolated(any) () async -> Void
    ) -> Task<Void, Never> {
        switch placement {
        case .eventLoop: Task.immediate(executorPreference: loop, operation: operation)
        case .concurrentPool: Task(operation: operation)
        }
    }

    // Each kind of handler runs in its own function, kept out of line: an async function's frame
    // holds every local of every path through it, and lives as long as the response. One function
    // for all kinds took a 3.4 KB frame per connection; an idle SSE stream now keeps only its own.
    static func run(
        _ handler: Router.Handler, request: Request, sink: ResponseSink, loop: EventLoop, maxBodyBytes: Int, logger: Logger,
        faultInjection: Bool = false
    ) async {
        var sink = sink
        let unfaulted = sink
        do {
            var dropAfter: Int?
            if faultInjection {
                guard let faulty = try await applyFaults(request: request, sink: sink) else { return }
                (sink, dropAfter) = faulty
            }
            switch handler {
            case .plain(let handle):
                try await runPlain(handle, request: request, sink: sink, maxBodyBytes: maxBodyBytes)
            case .immediate(let handle):
                try await runImmediate(handle, request: request, sink: sink, maxBodyBytes: maxBodyBytes)
            case .sse(let handle, let options):
                try await runSSE(handle, request: request, sink: sink, heartbeat: options.heartbeat)
            case .webSocket(let handle, let options):
                // Frames go to the connection unaltered; of the faults only `drop_after` applies (by message).
                try await runWebSocket(handle, options: options, request: request, sink: unfaulted, loop: loop, logger: logger,
                                       dropAfter: dropAfter)
            case .stream(let handle):
                try await runStream(handle, request: request, sink: sink)
            }
        } catch {
            await fail(error, sink: sink, logger: logger)
        }
    }

    /// The sink with the request's fault plan applied and the plan's `drop_after`, or nil when the
    /// plan answered (a refusal).
    @inline(never)
    private static func applyFaults(request: Request, sink: ResponseSink) async throws -> (ResponseSink, dropAfter: Int?)? {
        guard let plan = try FaultPlan.parse(request) else { return (sink, nil) }
        if let refusal = plan.refusal(for: request) {
            try await respond(refusal, on: sink)
            return nil
        }
        if plan.delayFirstMs > 0 { try await Task.sleep(for: .milliseconds(plan.delayFirstMs)) }
        return (FaultySink(inner: sink, plan: plan), plan.dropAfter)
    }

    @inline(never)
    private static func runPlain(
        _ handle: @escaping Router.PlainHandler, request: Request, sink: ResponseSink, maxBodyBytes: Int
    ) async throws {
        var request = request
        request.body = try await request.bodyStream.collect(
            upTo: maxBodyBytes, tooLarge: HTTPError(.contentTooLarge, "request body too large"))
        let response = try await handle(request)
        try await respond(response, on: sink)
    }

    /// An immediate route in a task: its request has a body to collect, or the placement or a fault
    /// plan asks for a task.
    @inline(never)
    private static func runImmediate(
        _ handle: @escaping Router.ImmediateHandler, request: Request, sink: ResponseSink, maxBodyBytes: Int
    ) async throws {
        try await runPlain({ try handle($0) }, request: request, sink: sink, maxBodyBytes: maxBodyBytes)
    }

    @inline(never)
    private static func runSSE(
        _ handle: @escaping Router.SSEHandler, request: Request, sink: ResponseSink, heartbeat: Duration?
    ) async throws {
        let writer = SSEWriter(sink: sink)
        if request.method == .head {
            try writer.open()
        } else if let heartbeat {
            try await writer.withHeartbeat(every: heartbeat) { try await handle(request, writer) }
        } else {
            try await handle(request, writer)
        }
        sink.finish(trailers: nil)
    }

    @inline(never)
    private static func runWebSocket(
        _ handle: @escaping Router.WebSocketHandler, options: @escaping @Sendable (Request) throws -> WebSocketOptions, request: Request,
        sink: ResponseSink, loop: EventLoop, logger: Logger, dropAfter: Int?
    ) async throws {
        let (agreement, options) = try acceptWebSocket(request, options: options, sink: sink)
        await WebSocketSession.run(handle, request: request, agreement: agreement, options: options, sink: sink,
                                   loop: loop, logger: logger, dropAfter: dropAfter)
    }

    /// Agrees on the upgrade and sends its response head, or throws the refusal. Not async, so its
    /// temporaries (the head's fields) live on the thread's stack, not in the connection's task.
    @inline(never)
    private static func acceptWebSocket(
        _ request: Request, options: @Sendable (Request) throws -> WebSocketOptions, sink: ResponseSink
    ) throws -> (WebSocketHandshake.Agreement, WebSocketOptions) {
        switch WebSocketRoute.decide(request, options: options) {
        case .failure(let refusal):
            throw refusal
        case .success(let (agreement, options)):
            try sink.sendHead(WebSocketHandshake.responseHead(agreement, http2: request.method == .connect))
            return (agreement, options)
        }
    }

    @inline(never)
    private static func runStream(_ handle: @escaping Router.StreamHandler, request: Request, sink: ResponseSink) async throws {
        let writer = BodyWriter(sink: sink)
        if request.method != .head { try await handle(request, writer) }
        sink.finish(trailers: nil)
    }

    /// A complete response: Content-Length framing, body dropped for HEAD by the sink. Out of line
    /// like `fail`: inlined into `run`, their locals sat in every response's task frame (an idle SSE
    /// connection grew by ~1 KB, 7.5 → 8.6 KB, when this learned file bodies). The body is in memory
    /// already (or a file): a protocol's own sink takes it all in one step, as for an immediate route;
    /// a fault plan's sink takes the steps (it counts and delays writes).
    @inline(never)
    static func respond(_ response: Response, on sink: ResponseSink) async throws {
        if let sink = sink as? any ImmediateSink { return try respondAtOnce(response, on: sink) }
        try sink.sendHead(framedHead(response))
        if !response.body.isEmpty { try await sink.write(response.body) }
        if let file = response.file { try await sink.write(file: file) }
        sink.finish(trailers: nil)
    }

    // MARK: Immediate routes

    /// Whether an immediate route's handler may answer inside the callback that read the request:
    /// on the loop, without a body to collect, and without a fault plan (its delays and counts need
    /// the task).
    static func answersAtOnce(_ handler: Router.Handler, hasBody: Bool, configuration: ServerConfiguration) -> Router.ImmediateHandler? {
        guard case .immediate(let handle) = handler, !hasBody, !configuration.faultInjection,
              case .eventLoop = configuration.handlerPlacement else { return nil }
        return handle
    }

    /// Runs an immediate handler and queues its response without a task or a suspension: the body
    /// is already in memory (or a file), so waiting for the queue to drain would hold nothing back.
    /// A thrown error is answered the way ``run(_:request:sink:maxBodyBytes:logger:faultInjection:)``
    /// answers it.
    static func answerAtOnce(_ handle: Router.ImmediateHandler, request: Request, sink: some ImmediateSink, logger: Logger) {
        guard let response = immediateResponse(handle, request: request, logger: logger) else { return sink.abort() }
        answerAtOnce(response, sink: sink, logger: logger)
    }

    /// Queues an immediate handler's response (see ``immediateResponse(_:request:logger:)``); a sink
    /// that refuses it (its stream gone) is answered as a handler's error would be.
    static func answerAtOnce(_ response: Response, sink: some ImmediateSink, logger: Logger) {
        do {
            try respondAtOnce(response, on: sink)
        } catch {
            guard let response = failureResponse(error, sink: sink, logger: logger) else { return }
            try? respondAtOnce(response, on: sink)
        }
    }

    /// What an immediate handler answers: its response, or the one that reports the error it threw;
    /// nil when the error says the exchange is over (a cancellation, a closed stream), so the
    /// response must end without one. For a connection that sends a whole response by itself.
    static func immediateResponse(_ handle: Router.ImmediateHandler, request: Request, logger: Logger) -> Response? {
        do {
            return try handle(request)
        } catch {
            return failureResponse(error, headSent: false, logger: logger)
        }
    }

    private static func respondAtOnce(_ response: Response, on sink: some ImmediateSink) throws {
        try sink.respondAtOnce(framedHead(response), body: response.body, file: response.file)
    }

    // MARK: Both paths

    /// The response's head with its Content-Length (unless it has one, or a status without a body).
    static func framedHead(_ response: Response, code: Int? = nil) -> HTTPResponse {
        var head = response.head
        let code = code ?? head.status.code
        if code != 204 && code != 304 && !head.headerFields.contains(.contentLength) {
            head.headerFields[.contentLength] = String(response.bodyCount)
        }
        return head
    }

    @inline(never)
    private static func fail(_ error: Error, sink: ResponseSink, logger: Logger) async {
        guard let response = failureResponse(error, sink: sink, logger: logger) else { return }
        try? await respond(response, on: sink)
    }

    /// The response that reports `error`, or nil when the response has to end without one (the
    /// sink is then aborted).
    private static func failureResponse(_ error: Error, sink: ResponseSink, logger: Logger) -> Response? {
        guard let response = failureResponse(error, headSent: sink.headSent, logger: logger) else {
            sink.abort()
            return nil
        }
        return response
    }

    /// The response that reports `error`, or nil when there is none to send: the head went already
    /// (the peer must see the body cut short), or the error says the exchange is over.
    private static func failureResponse(_ error: Error, headSent: Bool, logger: Logger) -> Response? {
        let expected = error is OutboundClosedError || error is CancellationError || error is InjectedDrop
        if headSent {
            if !expected { logger.warning("handler failed mid-response: \(error)") }
            return nil
        }
        if let httpError = error as? HTTPError { return httpError.response }
        if expected { return nil }
        logger.error("handler failed: \(error)")
        return HTTPError(.internalServerError).response
    }
}
