import ArgumentParser
import CLibevent
import Foundation
import SluiceClient
import SluiceCore

struct EchoLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ws-echo",
        abstract: "WebSocket echo round trips over many connections (for scripts/bench).",
        discussion: """
            Opens --connections WebSockets to URL (an echo endpoint), then each sends --messages binary
            messages of --size bytes, one at a time, the next when the echo of the last arrives. Prints
            one JSON object: round trips, round trips/s, latency p50/p99/max and its own CPU share.
            One event-loop thread; numeric addresses only; bounded by --messages and --timeout.
            """)

    @Argument(help: "ws://ADDRESS:PORT/PATH of an echo endpoint.")
    var url: String

    @Option(help: "WebSockets to open.")
    var connections = 100

    @Option(help: "Round trips per connection.")
    var messages = 1000

    @Option(help: "Payload bytes per message.")
    var size = 32

    @Option(help: "Seconds allowed for the whole run.")
    var timeout = 120.0

    func run() async throws {
        let (endpoint, address) = try LoadTarget.plain(url, form: "ws://ADDRESS:PORT/PATH")
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = Array("""
            GET \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n
            """.utf8)

        let loop = EventLoop(index: 0)
        loop.start()
        let run = EchoRun(connections: connections, messages: messages, size: size, request: request, address: address, loop: loop)
        defer {
            loop.execute { run.closeAll() }
            loop.shutdown()
        }
        let cpu0 = LoadTarget.cpuSeconds()
        let result = try await withCheckedThrowingContinuation { (done: CheckedContinuation<EchoRun.Outcome, any Error>) in
            loop.execute { run.begin(done, timeout: .seconds(timeout)) }
        }
        let cpu = LoadTarget.cpuSeconds() - cpu0
        let wall = Double(result.micros) / 1e6
        print("""
            {"connections":\(connections),"roundTrips":\(result.roundTrips),"seconds":\(String(format: "%.2f", wall)),\
            "perSecond":\(Int(Double(result.roundTrips) / wall)),"p50us":\(result.p50),"p99us":\(result.p99),\
            "max_us":\(result.max),"loader_cpu":\(String(format: "%.2f", cpu / max(wall, 0.001)))}
            """)
    }
}

/// The connections of one echo run; loop thread only. Timing starts when the last connection is open
/// (all send their first message together) and ends with the last echo.
final class EchoRun: @unchecked Sendable {
    struct Outcome { var roundTrips, micros, p50, p99, max: Int }

    private let connections: Int
    private let messages: Int
    private let payload: [UInt8]
    private let request: [UInt8]
    private let address: NumericAddress
    private let loop: EventLoop
    private var clients: [EchoClient] = []
    private var open = 0
    private var finished = 0
    private var started = 0
    private var histogram = LatencyHistogram()
    private var done: CheckedContinuation<Outcome, any Error>?
    private var deadline: LoopTimer?
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(connections: Int, messages: Int, size: Int, request: [UInt8], address: NumericAddress, loop: EventLoop) {
        self.connections = connections
        self.messages = messages
        payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        self.request = request
        self.address = address
        self.loop = loop
    }

    func begin(_ done: CheckedContinuation<Outcome, any Error>, timeout: Duration) {
        self.done = done
        let deadline = LoopTimer(loop: loop)
        deadline.schedule(after: timeout) { [unowned self] in self.fail("timed out after \(timeout)") }
        self.deadline = deadline
        for _ in 0..<connections {
            let client = EchoClient(payload: payload, messages: messages, scratch: scratch,
                                    onEcho: { [unowned self] micros in self.histogram.record(micros) },
                                    onState: { [unowned self] client in self.changed(client) })
            clients.append(client)
            address.withSockaddr { client.start(base: loop.base, address: $0, length: $1, request: request) }
        }
    }

    private func changed(_ client: EchoClient) {
        switch client.state {
        case .open:
            open += 1
            if open == connections {
                started = EchoClient.monotonicMicros()
                clients.forEach { $0.go() }
            }
        case .finished:
            finished += 1
            if finished == connections {
                finish(.success(Outcome(roundTrips: histogram.count, micros: EchoClient.monotonicMicros() - started,
                                       p50: histogram.percentile(0.5), p99: histogram.percentile(0.99), max: histogram.maxMicros)))
            }
        case .failed(let why):
            fail(why)
        case .connecting:
            break
        }
    }

    func fail(_ why: String) { finish(.failure(ValidationError("ws-echo: \(why)"))) }

    private func finish(_ result: Result<Outcome, any Error>) {
        deadline?.cancel()
        done?.resume(with: result)
        done = nil
    }

    func closeAll() {
        clients.forEach { $0.close() }
        clients.removeAll()
        deadline = nil
    }

    deinit { scratch.deallocate() }
}
