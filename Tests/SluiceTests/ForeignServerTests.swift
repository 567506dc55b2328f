import Foundation
import Testing
@testable import SluiceClient
@testable import SluiceCore

/// The client against servers that are not Sluice (Tests/Python/foreign_server.py).
@Suite struct ForeignServerTests {
    /// Starts the Python server and returns it with its port; the caller terminates it.
    static func start(_ kind: String) async throws -> (ChildProcess, Int) {
        let process = try ChildProcess(
            packageRoot.appendingPathComponent(".venv/bin/python").path,
            [packageRoot.appendingPathComponent("Tests/Python/foreign_server.py").path, kind], stderr: .discard)
        let line = try await blocking { process.readStdoutLine() }
        guard let port = Int(line.split(separator: " ").last ?? "") else {
            process.stop()
            throw TestFailure("foreign server did not start: \(line)")
        }
        return (process, port)
    }

    @Test func sseFromPythonWithCRLFCommentsRetryAndResume() async throws {
        let (server, port) = try await Self.start("sse")
        defer { server.stop() }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        var configuration = SSETransportConfiguration()
        configuration.doneSentinel = "[DONE]"
        configuration.reconnect = ReconnectPolicy(reconnectDelay: .milliseconds(500), maxReconnectDelay: .seconds(1), seed: 5)
        configuration.reconnect.jitter = .none
        let sse = try SSETransport(url: "http://127.0.0.1:\(port)/", configuration: configuration, loop: loop)
        sse.connect()
        var events: [TransportEvent] = []
        for await event in sse.events { events.append(event) }
        let received = events.compactMap { if case .event(let e) = $0 { e } else { nil } }
        #expect(received.map(\.lastEventID) == ["1", "2", "3", "4", "5", "6"])
        #expect(received.allSatisfy { $0.type == "py" })
        #expect(received.first?.data == "line one of 1\nline two")
        // The server's `retry: 20` replaced the 500 ms base delay.
        let delays = events.compactMap { if case .reconnecting(_, let d) = $0 { d } else { nil } }
        #expect(!delays.isEmpty && delays.allSatisfy { $0 == .milliseconds(20) }, "\(delays)")
        #expect(events.suffix(2) == [.done, .closed])
    }

    @Test func webSocketToPythonWebsockets() async throws {
        let (server, port) = try await Self.start("ws")
        defer { server.stop() }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let ws = try WebSocketTransport(url: "ws://127.0.0.1:\(port)/", loop: loop)
        ws.connect()
        var iterator = ws.events.makeAsyncIterator()
        while let event = await iterator.next(), event != .connected {}
        let big = String(repeating: "python ", count: 10_000)
        try await ws.send(text: "hello")
        try await ws.send(binary: [9, 8, 7])
        try await ws.send(text: big)
        var got: [WebSocketMessage] = []
        while got.count < 3, let event = await iterator.next() {
            if case .message(let m) = event { got.append(m) }
        }
        ws.close()
        while let _ = await iterator.next() {}
        #expect(got == [.text("hello"), .binary([9, 8, 7]), .text(big)])
    }
}
