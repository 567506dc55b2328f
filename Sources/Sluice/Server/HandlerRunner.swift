import HTTPTypes
import Logging
import SluiceCore

/// Runs one route handler against one response sink, whatever protocol the sink speaks: turns a
/// returned ``Response`` or a thrown ``HTTPError`` into bytes, finishes streams the handler left
/// open, and keeps SSE heartbeats going.
enum HandlerRunner {
    static func run(
        _ handler: Router.Handler, request: Request, sink: ResponseSink, maxBodyBytes: Int, logger: Logger, faultInjection: Bool = false
    ) async {
        var sink = sink
        let unfaulted = sink
        var plan: FaultPlan?
        do {
            plan = faultInjection ? try FaultPlan.parse(request) : nil
            if let plan {
                if let refusal = plan.refusal(for: request) { return try await respond(refusal, on: sink) }
                if plan.delayFirstMs > 0 { try await Task.sleep(for: .milliseconds(plan.delayFirstMs)) }
                sink = FaultySink(inner: sink, plan: plan)
            }
            switch handler {
            case .plain(let handle):
                var request = request
                request.body = try await request.bodyStream.collect(
                    upTo: maxBodyBytes, tooLarge: HTTPError(.contentTooLarge, "request body too large"))
                let response = try await handle(request)
                try await respond(response, on: sink)
            case .sse(let handle, let options):
                let writer = SSEWriter(sink: sink)
                if request.method == .head {
                    try writer.open()
                } else {
                    try await runSSE(handle, request: request, writer: writer, heartbeat: options.heartbeat)
                }
                sink.finish(trailers: nil)
            case .webSocket(let handle, let options):
                switch WebSocketRoute.decide(request, options: options) {
                case .failure(let refusal):
                    throw refusal
                case .success(let (agreement, options)):
                    // Frames go to the connection unaltered; of the faults only `drop_after` applies (by message).
                    try unfaulted.sendHead(WebSocketHandshake.responseHead(agreement, http2: request.method == .connect))
                    await WebSocketSession.run(handle, request: request, agreement: agreement, options: options, sink: unfaulted,
                                               logger: logger, dropAfter: plan?.dropAfter)
                }
            case .stream(let handle):
                let writer = BodyWriter(sink: sink)
                if request.method != .head { try await handle(request, writer) }
                sink.finish(trailers: nil)
            }
        } catch {
            await fail(error, sink: sink, logger: logger)
        }
    }

    /// A complete response: Content-Length framing, body dropped for HEAD by the sink.
    static func respond(_ response: Response, on sink: ResponseSink) async throws {
        var head = response.head
        if head.headerFields[.contentLength] == nil && head.status.code != 204 && head.status.code != 304 {
            head.headerFields[.contentLength] = String(response.body.count)
        }
        try sink.sendHead(head)
        if !response.body.isEmpty { try await sink.write(response.body) }
        sink.finish(trailers: nil)
    }

    private static func runSSE(
        _ handle: @escaping Router.SSEHandler, request: Request, writer: SSEWriter, heartbeat: Duration?
    ) async throws {
        guard let heartbeat else { return try await handle(request, writer) }
        try await writer.withHeartbeat(every: heartbeat) { try await handle(request, writer) }
    }

    private static func fail(_ error: Error, sink: ResponseSink, logger: Logger) async {
        if sink.headSent {
            // Too late for a status: the peer must see the body cut short.
            if !(error is OutboundClosedError || error is CancellationError || error is InjectedDrop) {
                logger.warning("handler failed mid-response: \(error)")
            }
            sink.abort()
            return
        }
        let response: Response
        if let httpError = error as? HTTPError {
            response = httpError.response
        } else if error is OutboundClosedError || error is CancellationError || error is InjectedDrop {
            sink.abort()
            return
        } else {
            logger.error("handler failed: \(error)")
            response = HTTPError(.internalServerError).response
        }
        try? await respond(response, on: sink)
    }
}
