// Usage: HummingbirdPeer PORT TICKS_PER_SECOND
//   GET /100.bin             100 bytes
//   GET /channels/ticks/sse  SSE: every 10 ms, TICKS_PER_SECOND/100 events of 100 bytes whose data
//                            starts with the publish time in µs since the epoch (one write per tick)
//   GET /ws/echo             WebSocket echo
// Prints "listening PORT" once bound.
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 0 : 0
let rate = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000

/// Subscribers each get an AsyncStream; the ticker yields one buffer per tick to every one.
final class Broadcaster: @unchecked Sendable {
    private let lock = NSLock()
    private var subscribers: [Int: AsyncStream<ByteBuffer>.Continuation] = [:]
    private var next = 0

    func subscribe() -> AsyncStream<ByteBuffer> {
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = lock.withLock { () -> Int in
            next += 1
            subscribers[next] = continuation
            return next
        }
        continuation.onTermination = { [weak self] _ in self?.lock.withLock { _ = self?.subscribers.removeValue(forKey: id) } }
        return stream
    }

    func publish(_ buffer: ByteBuffer) {
        let all = lock.withLock { Array(subscribers.values) }
        for continuation in all { continuation.yield(buffer) }
    }
}

let broadcaster = Broadcaster()
let perTick = rate / 100  // 0: no events (idle connections)
if perTick > 0 { Task.detached {
    var id = 0
    while true {
        try? await Task.sleep(for: .milliseconds(10))
        var text = ""
        for _ in 0..<perTick {
            id += 1
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let micros = now.tv_sec * 1_000_000 + now.tv_nsec / 1000
            let head = "id: \(id)\ndata: \(micros) "
            text += head + String(repeating: "x", count: max(0, 98 - head.utf8.count)) + "\n\n"
        }
        broadcaster.publish(ByteBuffer(string: text))
    }
} }

let hundred = ByteBuffer(repeating: UInt8(ascii: "x"), count: 100)
let router = Router()
router.get("/100.bin") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: hundred))
}
router.get("/channels/ticks/sse") { _, _ in
    let stream = broadcaster.subscribe()
    return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: .init { writer in
        try await writer.write(ByteBuffer(string: ": ok\n\n"))
        for await buffer in stream { try await writer.write(buffer) }
        try await writer.finish(nil)
    })
}

let wsRouter = Router(context: BasicWebSocketRequestContext.self)
wsRouter.ws("/ws/echo") { inbound, outbound, _ in
    for try await frame in inbound {
        switch frame.opcode {
        case .text: try await outbound.write(.text(String(buffer: frame.data)))
        case .binary: try await outbound.write(.binary(frame.data))
        default: break
        }
    }
}

let app = Application(
    router: router,
    server: .http1WebSocketUpgrade(webSocketRouter: wsRouter),
    configuration: .init(address: .hostname("127.0.0.1", port: port)),
    onServerRunning: { channel in
        print("listening \(channel.localAddress?.port ?? 0)")
        fflush(nil)
    },
    logger: { var l = Logger(label: "peer"); l.logLevel = .error; return l }())
try await app.runService()
