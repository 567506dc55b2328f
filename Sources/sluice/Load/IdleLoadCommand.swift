import ArgumentParser
import Foundation
import SluiceClient
import SluiceCore

struct IdleLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Hold many idle client transports open and report the memory each costs (for scripts/bench).",
        discussion: """
            Opens --connections transports of the client library to URL (an endless, quiet stream such as a
            channel), waits until all are connected, and prints one JSON object: connections, RSS before and
            after, bytes per transport.
            """)

    @Argument(help: "http(s) URL of an SSE stream, or ws(s) URL of a WebSocket.")
    var url: String

    @Option(help: "Transports to open.")
    var connections = 1000

    @Option(help: "Seconds to wait for all to connect.")
    var timeout = 60

    @Option(help: "Seconds to keep them open after reporting (so a script can read the server's memory).")
    var hold = 0.0

    @Flag(help: "SSE over HTTP/2 (prior knowledge on http://), one connection per transport.")
    var http2 = false

    func run() async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let before = Self.residentBytes()
        let connected = Locked(0)
        var transports: [any StreamingTransport] = []
        for _ in 0..<connections {
            let transport: any StreamingTransport
            if url.lowercased().hasPrefix("ws") {
                var configuration = WebSocketTransportConfiguration()
                configuration.heartbeatInterval = nil
                transport = try WebSocketTransport(url: url, configuration: configuration, loop: loop)
            } else {
                var configuration = SSETransportConfiguration()
                if http2 { configuration.httpVersion = .http2 }
                transport = try SSETransport(url: url, configuration: configuration, loop: loop)
            }
            transport.on(.connected) { _ in connected.withLock { $0 += 1 } }
            transport.connect()
            transports.append(transport)
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        while connected.withLock({ $0 }) < connections && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(500))  // let buffers settle
        let after = Self.residentBytes()
        let open = connected.withLock { $0 }
        print("{\"connections\":\(open),\"rss_before\":\(before),\"rss_after\":\(after),\"bytes_per_transport\":\((after - before) / max(1, open))}")
        fflush(nil)
        if hold > 0 { try await Task.sleep(for: .seconds(hold)) }
        transports.forEach { $0.close() }
        for transport in transports { for await _ in transport.events {} }
        if open < connections { throw ExitCode(1) }
    }

    /// VmRSS from /proc/self/status.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
}
