import ArgumentParser
import Logging
import ServiceLifecycle
import Sluice
import SluiceAI
#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the test endpoints (/sse, /stream, /ndjson, /health, /ws/*, mock LLM providers) and static files.",
        discussion: """
            The first line on standard output is `listening on http://HOST:PORT`, so scripts can read
            the port chosen for `--port 0`. SIGINT or SIGTERM shut down gracefully.
            """)

    @Option(help: "Host name or address to listen on; every address it resolves to is bound.")
    var host = "127.0.0.1"

    @Option(help: "Port; 0 picks a free one.")
    var port = 8080

    @Option(help: "Event loop threads (default: one per core).")
    var loops: Int?

    @Option(name: .customLong("public"), help: "Folder of static files to serve.")
    var publicDirectory = "public"

    @Option(help: "Access-Control-Allow-Origin for browser clients: an origin, '*', or 'off'.")
    var cors = "*"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "Seconds in-flight responses get to finish on shutdown.")
    var shutdownGrace = 10

    @Option(help: "PEM certificate chain (leaf first): serve HTTPS, with h2 and http/1.1 by ALPN.")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Flag(help: "Serve HTTPS with a certificate generated in memory (prints its SHA-256 fingerprint).")
    var tlsSelfSigned = false

    @Flag(help: "Ignore fault-injection parameters and X-Sluice-Fault-* headers.")
    var noFaults = false

    @Option(help: ArgumentHelp(
        "JSON reply of the mock LLM endpoints (/v1/chat/completions, /v1/responses, /v1/messages).",
        discussion: #"{"text": "…", "thinking": "…", "tool_calls": [{"name": "f", "arguments": {…}}]}; default: generated from the request's seed."#))
    var aiScript: String?

    @Option(help: ArgumentHelp(
        "Publish this many 100-byte events a second to channel 'ticks' (benchmarks; 0: none).",
        discussion: "Each event's data starts with its publish time in µs since the epoch; see `sluice load fanout`."))
    var tickerRate: Int?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        if let loops, loops < 1 { throw ValidationError("--loops must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must not be negative") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if let tickerRate, tickerRate < 0 { throw ValidationError("--ticker-rate must not be negative") }
        if tlsSelfSigned && tlsCert != nil { throw ValidationError("--tls-self-signed or --tls-cert, not both") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sluice")

        var router = Router()
        let channels = ChannelRegistry()
        router.addTestEndpoints(aiScript: try aiScript.map { path in
            do { return try AIScript(contentsOf: path) } catch { throw ValidationError("--ai-script \(path): \(error)") }
        }, channels: channels)
        if !router.staticFiles(from: publicDirectory) {
            logger.notice("no folder '\(publicDirectory)': static files are off")
        }
        var configuration = ServerConfiguration(host: host, port: port, loops: loops, logger: logger)
        configuration.cors = cors == "off" ? nil : CORSPolicy(origin: cors)
        configuration.timeouts.shutdownGrace = .seconds(shutdownGrace)
        configuration.faultInjection = !noFaults
        if let tlsCert, let tlsKey {
            configuration.tls = try TLSContext(certificateChainFile: tlsCert, privateKeyFile: tlsKey)
        } else if tlsSelfSigned {
            configuration.tls = try TLSContext.selfSigned()
        }

        let server = Server(router: router, configuration: configuration)
        try server.start()
        let shown = host.contains(":") ? "[\(host)]" : host
        print("listening on \(configuration.tls == nil ? "http" : "https")://\(shown):\(server.port ?? port)")
        if let tls = configuration.tls { print("tls certificate SHA-256 \(tls.fingerprint)") }
        fflush(nil)  // all streams: scripts wait for this line

        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        let ticker = tickerRate.flatMap { rate in rate == 0 ? nil : channels.channel("ticks").map { Ticker(channel: $0, rate: rate) } }
        let tickerTask = ticker.map { ticker in Task { await ticker.run() } }
        defer { tickerTask?.cancel() }
        try await group.run()
    }
}
