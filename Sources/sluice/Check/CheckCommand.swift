import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceClient
import SluiceCore

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the end-to-end matrix: every transport of the client library against streams that misbehave on purpose.",
        discussion: """
            Without a URL, starts a server on loopback (HTTP and HTTPS, fault injection on) and tests
            against it. With a URL of a `sluice serve`, publishes to its channels over HTTP and tests
            there (an https URL tests SSE over TLS with HTTP/1.1 and h2, accepting any certificate). Prints one row a scenario:
            events expected, received, lost, duplicated, reconnections, time, PASS/FAIL; exits 1 on any FAIL.
            """)

    @Argument(help: "Base URL of a sluice serve (default: one started here).")
    var url: String?

    @Option(help: "Events a scenario publishes and expects.")
    var events = 200

    @Option(help: "Seconds a scenario may take.")
    var timeout = 20

    @Option(help: "Only scenarios whose name contains this (e.g. 'sse', 'drop').")
    var only: String?

    @Flag(help: "One JSON object a scenario, one a line, instead of the table.")
    var json = false

    func validate() throws {
        guard events >= 1 && events <= 100_000 else { throw ValidationError("--events must be in 1...100000") }
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1") }
        if let url, ClientEndpoint(url: url) == nil { throw ValidationError("not an http(s) URL: \(url)") }
    }

    func run() async throws {
        var servers: [Server] = []
        let runner: CheckRunner
        let publishLoop = EventLoop(index: 1)
        publishLoop.start()
        defer { publishLoop.shutdown() }
        let transports: [CheckScenario.Transport]
        if let url {
            let base = url.hasSuffix("/") ? String(url.dropLast()) : url
            let secure = base.lowercased().hasPrefix("https")
            transports = secure ? [.sseTLS, .sseH2TLS] : [.sse, .sseH2, .webSocket, .ndjson, .poll]
            runner = CheckRunner(base: base, tlsBase: secure ? base : nil, events: events, timeout: .seconds(timeout),
                                 publish: { channel, count in try await Self.publishOverHTTP(base: base, channel: channel, count: count, loop: publishLoop) })
        } else {
            let registry = ChannelRegistry()
            var router = Router()
            router.addTestEndpoints(channels: registry)
            var logger = Logger(label: "sluice-check")
            logger.logLevel = .critical
            var plain = ServerConfiguration(host: "127.0.0.1", port: 0, loops: 1, logger: logger)
            plain.faultInjection = true
            var secure = plain
            secure.tls = try TLSContext.selfSigned()
            servers = [Server(router: router, configuration: plain), Server(router: router, configuration: secure)]
            for server in servers { try server.start() }
            transports = CheckScenario.Transport.allCases
            runner = CheckRunner(
                base: "http://127.0.0.1:\(servers[0].port!)", tlsBase: "https://127.0.0.1:\(servers[1].port!)",
                events: events, timeout: .seconds(timeout),
                publish: { channel, count in
                    guard let target = registry.channel(channel) else { throw CheckError("cannot make channel \(channel)") }
                    for n in 1...count { try target.publish(data: "check event \(n)") }
                })
        }
        let loop = EventLoop(index: 0)
        loop.start()
        var scenarios = CheckScenario.matrix(transports: transports)
        if let only { scenarios = scenarios.filter { $0.name.contains(only) } }
        if !json { print(CheckReport.header) }
        var failed = 0
        for (number, scenario) in scenarios.enumerated() {
            let result = await runner.run(scenario, number: number, loop: loop)
            if !result.passed { failed += 1 }
            print(json ? CheckReport.json(result) : CheckReport.row(result))
            fflush(nil)
        }
        if !json { print(CheckReport.summary(total: scenarios.count, failed: failed)) }
        loop.shutdown()
        for server in servers { await server.shutdown() }
        if failed > 0 { throw ExitCode(1) }
    }

    /// `POST /channels/{name}` once per event, through the client library's one-shot exchange.
    static func publishOverHTTP(base: String, channel: String, count: Int, loop: EventLoop) async throws {
        let tls = base.lowercased().hasPrefix("https") ? try ClientTLS(insecure: true) : nil
        for n in 1...count {
            let answer = try await HTTP1Fetch.send(method: "POST", url: "\(base)/channels/\(channel)", body: Array("check event \(n)".utf8),
                                                   tls: tls, loop: loop)
            guard answer.status == 200 else { throw CheckError("publishing to \(channel) answered \(answer.status)") }
        }
    }
}
