import HTTPTypes
import Logging
import SluiceCore

/// Runs one WebSocket connection: the read loop (frames → messages, ping → pong, the close
/// handshake), keep-alive pings, and the handler, over any byte stream pair: an upgraded HTTP/1.1
/// connection or an HTTP/2 stream.
enum WebSocketSession {
    static func run(
        _ handler: @escaping Router.WebSocketHandler, request: Request, agreement: WebSocketHandshake.Agreement,
        options: WebSocketOptions, sink: ResponseSink, logger: Logger, dropAfter: Int? = nil
    ) async {
        let ws = WebSocket(sink: sink, options: options, subprotocol: agreement.subprotocol, deflate: agreement.deflate)
        ws.state.withLock { $0.dropAfter = dropAfter }
        // The read loop runs in this task and the handler (and the pinger) in child tasks: a task per
        // job costs ~1.3 KB per connection, held as long as the connection is open.
        await withTaskGroup(of: Void.self) { group in
            if let interval = options.pingInterval {
                group.addTask { await keepAlive(ws, interval: interval, inbound: request.bodyStream) }
            }
            group.addTask {
                defer {
                    // However the handler ended, the connection ends with it: a read loop still
                    // waiting (for a close reply that never came, or after a `drop_after`) stops.
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
            // The read loop ends the connection: the peer closed, broke the protocol, or went away.
            await readLoop(ws, inbound: request.bodyStream, deflate: agreement.deflate, options: options)
            group.cancelAll()
        }
        sink.finish(trailers: nil)
    }

    private static func readLoop(_ ws: WebSocket, inbound: InboundBody, deflate: PerMessageDeflateParameters?, options: WebSocketOptions) async {
        // The inflater belongs to this loop alone.
        let inflater = deflate.map { MessageInflater(noContextTakeover: $0.clientNoContextTakeover) }
        var parser = WebSocketFrameParser(role: .server, allowsRSV1: inflater != nil, maxFramePayload: options.maxMessageSize)
        var assembler = WebSocketMessageAssembler(maxMessageSize: options.maxMessageSize, inflater: inflater)
        defer { ws.messages.finish() }
        do {
            for try await chunk in inbound {
                ws.state.withLock { $0.lastHeard = .now }
                parser.append(chunk)
                while let frame = try parser.next() {
                    guard let event = try assembler.push(frame) else { continue }
                    switch event {
                    case .text(let text):
                        if !ws.state.withLock({ $0.closeSent }) { await ws.messages.put(.text(text)) }
                    case .binary(let bytes):
                        if !ws.state.withLock({ $0.closeSent }) { await ws.messages.put(.binary(bytes)) }
                    case .ping(let payload):
                        try? await ws.sendControl(.pong, payload)
                    case .pong:
                        ws.state.withLock { $0.pingOutstanding = nil }
                    case .close(let code, _):
                        let reply = ws.state.withLock { s -> Bool in
                            s.closeReceived = true
                            if s.closeCode == nil { s.closeCode = code ?? .noStatus }
                            defer { s.closeSent = true }
                            return !s.closeSent
                        }
                        if reply {
                            // Echo the peer's code (RFC 6455 §5.5.1); no code, no payload.
                            let payload = code.map { WebSocketFrameEncoder.closePayload($0, reason: "") } ?? []
                            try? await ws.writeFrame(WebSocketFrame(opcode: .close, payload: payload))
                        }
                        return
                    }
                }
            }
            ws.state.withLock { if $0.closeCode == nil { $0.closeCode = .abnormal } }
        } catch let error as WebSocketProtocolError {
            // Fail the connection (RFC 6455 §7.1.7). Messages that arrived before the bad frame are
            // still the handler's: let it take them (and answer) before our close frame goes out.
            ws.state.withLock { $0.failure = error }  // a close from the handler now carries this code
            ws.messages.finish()
            await ws.messages.waitUntilTaken(within: .seconds(1))
            await ws.closeForFailure(error)
        } catch {
            // The transport went away (peer closed the socket, stream reset, timeout).
            ws.state.withLock { if $0.closeCode == nil { $0.closeCode = .abnormal } }
        }
    }

    /// Pings after `interval` of silence; a pong that does not come within the timeout ends the
    /// connection (the socket may be half-open).
    private static func keepAlive(_ ws: WebSocket, interval: Duration, inbound: InboundBody) async {
        while !Task.isCancelled {
            let (heard, outstanding) = ws.state.withLock { ($0.lastHeard, $0.pingOutstanding) }
            let now = ContinuousClock.now
            if let outstanding {
                if now - outstanding >= ws.options.pongTimeout {
                    inbound.fail(OutboundClosedError(reason: "pong timeout"))
                    return
                }
                try? await Task.sleep(until: outstanding + ws.options.pongTimeout, clock: .continuous)
            } else if now - heard >= interval {
                ws.state.withLock { $0.pingOutstanding = now }
                do { try await ws.sendControl(.ping, []) } catch { return }
            } else {
                try? await Task.sleep(until: heard + interval, clock: .continuous)
            }
        }
    }
}
