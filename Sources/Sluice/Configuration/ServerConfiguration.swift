import Logging
import SluiceCore

/// Everything a ``Server`` can be told, with documented defaults.
///
/// ```swift
/// var config = ServerConfiguration(host: "127.0.0.1", port: 0)
/// config.timeouts.idle = .seconds(30)
/// config.cors = .anyOrigin
/// ```
public struct ServerConfiguration: Sendable {
    /// Host name or address to listen on; every address it resolves to is bound (e.g. `localhost`
    /// gives `127.0.0.1` and `::1`). Default `127.0.0.1`.
    public var host: String
    /// Port, or 0 for one the kernel picks (read it back from ``Server/port``). Default 8080.
    public var port: Int
    /// Event loops (threads); `nil` means one per core.
    public var loops: Int?
    /// Listen backlog. Default 511, like nginx.
    public var backlog: Int32
    public var limits: HTTP1Limits
    /// HTTP/2 settings; h2 is offered through ALPN and accepted with prior knowledge on cleartext.
    public var http2: HTTP2Settings
    /// TLS for every listener; `nil` (the default) serves cleartext.
    public var tls: TLSContext?
    public var timeouts: Timeouts
    /// Outbound queue bounds per response: `send`/`write` suspend above `high`, resume at `low`.
    public var watermarks: Watermarks
    /// Cross-origin policy; `nil` (the default for embedding) sends no CORS headers.
    public var cors: CORSPolicy?
    /// Where handler Tasks run. Default ``HandlerPlacement/eventLoop``.
    public var handlerPlacement: HandlerPlacement
    /// The `Server` header; `nil` sends none.
    public var serverName: String?
    public var logger: Logger
    /// Honour fault-injection requests (`drop_after=`, `X-Sluice-Fault-*`…, see the README) on every
    /// route. Default off: an embedding server must not let its clients break their own responses;
    /// `sluice serve`, the test bed, turns it on.
    public var faultInjection = false

    public struct Timeouts: Sendable {
        /// From a request's first byte to the end of its header block; then 408 and close (slowloris).
        /// Default 10 s.
        public var requestHead: Duration
        /// Longest silence while a request body is arriving; then 408 and close. Default 30 s.
        public var bodyRead: Duration
        /// How long a keep-alive connection may wait for its next request. Default 60 s.
        public var idle: Duration
        /// On shutdown, how long in-flight responses may take before their connections are closed.
        /// Default 10 s.
        public var shutdownGrace: Duration

        public init(
            requestHead: Duration = .seconds(10), bodyRead: Duration = .seconds(30),
            idle: Duration = .seconds(60), shutdownGrace: Duration = .seconds(10)
        ) {
            self.requestHead = requestHead
            self.bodyRead = bodyRead
            self.idle = idle
            self.shutdownGrace = shutdownGrace
        }
    }

    public init(
        host: String = "127.0.0.1", port: Int = 8080, loops: Int? = nil, backlog: Int32 = 511,
        limits: HTTP1Limits = HTTP1Limits(), http2: HTTP2Settings = HTTP2Settings(), tls: TLSContext? = nil,
        timeouts: Timeouts = Timeouts(), watermarks: Watermarks = .default,
        cors: CORSPolicy? = nil, handlerPlacement: HandlerPlacement = .eventLoop, serverName: String? = "Sluice",
        logger: Logger = Logger(label: "sluice")
    ) {
        self.host = host
        self.port = port
        self.loops = loops
        self.backlog = backlog
        self.limits = limits
        self.http2 = http2
        self.tls = tls
        self.timeouts = timeouts
        self.watermarks = watermarks
        self.cors = cors
        self.handlerPlacement = handlerPlacement
        self.serverName = serverName
        self.logger = logger
    }
}

/// Where a request's handler Task runs.
public enum HandlerPlacement: Sendable {
    /// On the connection's own event loop (a `TaskExecutor` preference): no thread hop between the
    /// socket and the handler, the fastest choice. A handler that blocks or computes for long stalls
    /// every connection of that loop meanwhile; such handlers belong on `.concurrentPool`.
    case eventLoop
    /// On Swift's global concurrent executor.
    case concurrentPool
}
