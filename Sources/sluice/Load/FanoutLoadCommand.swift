import ArgumentParser
import CLibevent
import Foundation
import SluiceClient
import SluiceCore

struct FanoutLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Subscribe many raw SSE readers to one stream and measure delivery (for scripts/bench).",
        discussion: """
            Opens --connections HTTP/1.1 subscriptions to URL (a stream of `Ticker` events, whose data
            starts with the publish time in µs since the epoch: `sluice serve --ticker-rate N` at
            /channels/ticks/sse, or the peers in scripts/peers), at most --pace connecting at a time.
            Once all stream, it waits --warmup seconds, then counts for --seconds: events/s received,
            publish-to-receive latency p50/p99/max, and its own CPU share, as one JSON object.
            One event-loop thread; numeric addresses only.
            """)

    @Argument(help: "http://ADDRESS:PORT/PATH of the stream.")
    var url: String

    @Option(help: "Subscriptions to hold.")
    var connections = 100

    @Option(help: "Seconds to measure.")
    var seconds = 5.0

    @Option(help: "Seconds between all streaming and measuring.")
    var warmup = 1.0

    @Option(help: "Connections being set up at once.")
    var pace = 1024

    @Option(help: "Seconds allowed for all to connect; then it measures those that did.")
    var timeout = 20.0

    func run() async throws {
        let (endpoint, address) = try LoadTarget.plain(url, form: "http://ADDRESS:PORT/PATH")
        let request = Array("GET \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\nAccept: text/event-stream\r\n\r\n".utf8)

        let loop = EventLoop(index: 0)
        loop.start()
        let run = FanoutRun(connections: connections, pace: pace, request: request, address: address, loop: loop)
        defer {
            // The readers' callbacks point at them: free every bufferevent on the loop before it stops.
            loop.execute { run.closeAll() }
            loop.shutdown()
        }
        loop.execute { run.begin() }

        // A server that cannot take them all in time is measured with those it took ("streaming").
        let deadline = ContinuousClock.now + .seconds(timeout)
        while run.streaming < connections && ContinuousClock.now < deadline {
            if let failure = run.failure { throw ValidationError("a subscription failed: \(failure)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        if run.streaming < connections {
            FileHandle.standardError.write(Data("fanout: only \(run.streaming) of \(connections) streaming after \(timeout) s\n".utf8))
        }
        try await Task.sleep(for: .seconds(warmup))
        let cpu0 = LoadTarget.cpuSeconds()
        let wall0 = ContinuousClock.now
        loop.execute { run.measuring = true }
        try await Task.sleep(for: .seconds(seconds))
        let result = await withCheckedContinuation { (done: CheckedContinuation<FanoutRun.Result, Never>) in
            loop.execute {
                run.measuring = false
                done.resume(returning: run.result())
            }
        }
        let wall = (ContinuousClock.now - wall0) / .seconds(1)
        let cpu = LoadTarget.cpuSeconds() - cpu0
        let perSecond = Int(Double(result.events) / wall)
        print("""
            {"connections":\(connections),"streaming":\(result.streaming),"seconds":\(String(format: "%.2f", wall)),\
            "events":\(result.events),"events_per_second":\(perSecond),"p50us":\(result.p50),"p99us":\(result.p99),\
            "max_us":\(result.max),"loader_cpu":\(String(format: "%.2f", cpu / wall))}
            """)
    }
}

/// The readers of one fan-out run and their counts; loop thread, except the two counters the command
/// polls (read under a lock).
final class FanoutRun: @unchecked Sendable {
    struct Result { var streaming, events, p50, p99, max: Int }

    private let connections: Int
    private let pace: Int
    private let request: [UInt8]
    private let address: NumericAddress
    private let loop: EventLoop
    private var readers: [FanoutReader] = []
    private var pending = 0
    private var histogram = LatencyHistogram()
    private var events = 0
    var measuring = false
    private let progress = Locked((streaming: 0, failure: String?.none))

    init(connections: Int, pace: Int, request: [UInt8], address: NumericAddress, loop: EventLoop) {
        self.connections = connections
        self.pace = pace
        self.request = request
        self.address = address
        self.loop = loop
    }

    var streaming: Int { progress.withLock { $0.streaming } }
    var failure: String? { progress.withLock { $0.failure } }

    func begin() { openMore() }

    private func openMore() {
        while readers.count < connections && pending < pace {
            pending += 1
            let reader = FanoutReader(onStamp: { [unowned self] stamp in self.received(stamp) },
                                      onState: { [unowned self] reader in self.changed(reader) })
            readers.append(reader)
            address.withSockaddr { reader.start(base: loop.base, address: $0, length: $1, request: request) }
        }
    }

    private func received(_ stamp: Int) {
        guard measuring else { return }
        events += 1
        histogram.record(FanoutRun.epochMicros() - stamp)
    }

    private func changed(_ reader: FanoutReader) {
        switch reader.state {
        case .streaming:
            pending -= 1
            progress.withLock { $0.streaming += 1 }
            openMore()
        case .failed(let why):
            progress.withLock { $0.failure = why }
        case .ended:
            progress.withLock { $0.streaming -= 1; $0.failure = $0.failure ?? "a stream ended" }
        case .connecting:
            break
        }
    }

    func result() -> Result {
        Result(streaming: streaming, events: events, p50: histogram.percentile(0.5), p99: histogram.percentile(0.99), max: histogram.maxMicros)
    }

    func closeAll() {
        readers.forEach { $0.close() }
        readers.removeAll()
    }

    static func epochMicros() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
    }
}
