import HTTPTypes
import Logging
import SluiceCore

/// Runs one WebSocket connection: reading (``WebSocketReader``: frames → messages, as the bytes
/// arrive), what reading hands over (pongs, the close handshake, protocol failures), keep-alive
/// pings, and the handler, over any byte stream pair: an upgraded HTTP/1.1 connection or an HTTP/2
/// stream.
enum WebSocketSession {
    static func run(
        _ handler: @escaping Router.WebSocketHandler, request: Request, agreement: WebSocketHandshake.Agreement,
        options: WebSocketOptions, sink: ResponseSink, loop: EventLoop, logger: Logger, dropAfter: Int? = nil
    ) async {
        let ws = WebSocket(sink: sink, options: options, subprotocol: agreement.subprotocol, deflate: agreement.deflate)
        ws.state.withLock { $0.dropAfter = dropAfter }
        let reader = WebSocketReader(ws, deflate: agreement.deflate, options: options)
        let keepAlive = options.pingInterval.map { WebSocketKeepAlive(ws, reader: reader, interval: $0, loop: loop) }
        keepAlive?.start()
        defer { keepAlive?.stop() }
        // This task serves the reader's steps; the handler runs in a child task (a task costs ~1.3 KB
        // per connection, held as long as the connection is open).
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                defer {
                    // However the handler ended, the connection ends with it: nobody takes messages
                    // any more (a reader holding one for the full inbox drops it and reads on), and
                    // reading that waits (for a close reply that never came, after a `drop_after`) stops.
                    ws.messages.finish()
                    request.bodyStream.fail(OutboundClosedError(reason: "WebSocket handler finished"))
                }
                do {
                    try await handler(request, ws)
                } catch is WebSocket.ClosedError {
                } catch is CancellationError {
                } catch is OutboundClosedError {
                } catch is InjectedDrop {
                    return
                } catch {
                    logger.warning("WebSocket handler failed: \(error)")
                    await ws.close(code: .internalError, reason: "")
                    return
                }
                await ws.close()
            }
            // Reading ends the connection: the peer closed, broke the protocol, or went away.
            await serveReader(reader, ws, inbound: request.bodyStream)
            group.cancelAll()
        }
        sink.finish(trailers: nil)
    }

    /// Does what the reader hands over until reading ends.
    private static func serveReader(_ reader: WebSocketReader, _ ws: WebSocket, inbound: InboundBody) async {
        defer { ws.messages.finish() }
        reader.start(inbound)
        while true {
            switch await reader.nextStep() {
            case .pong(let payload):
                try? await ws.sendControl(.pong, payload)
                inbound.resumeDelivery()
            case .ping:
                try? await ws.sendControl(.ping, [])
            case .closeReceived(let reply, let code):
                if reply {
                    // Echo the peer's code (RFC 6455 §5.5.1); no code, no payload.
                    let payload = code.map { WebSocketFrameEncoder.closePayload($0, reason: "") } ?? []
                    try? await ws.writeFrame(WebSocketFrame(opcode: .close, payload: payload))
                }
                return
            case .protocolError(let error):
                // Fail the connection (RFC 6455 §7.1.7). Messages that arrived before the bad frame
                // are still the handler's: let it take them (and answer) before our close frame goes out.
                ws.state.withLock { $0.failure = error }  // a close from the handler now carries this code
                ws.messages.finish()
                await ws.messages.waitUntilTaken(within: .seconds(1))
                await ws.closeForFailure(error)
                return
            case .transportEnded:
                ws.state.withLock { if $0.closeCode == nil { $0.closeCode = .abnormal } }
                return
            }
        }
    }
}
