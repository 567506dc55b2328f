import SluiceCore

/// Settings of a ``TransportManager``, with documented defaults.
public struct TransportManagerConfiguration: Sendable {
    /// Transports held at most; creating one more is an error, never a silent eviction. Default 100.
    public var maxPoolSize = 100
    /// A transport with nothing received or sent for this long is idle. Default 5 minutes.
    public var maxIdleTime: Duration = .seconds(300)
    /// Close and remove idle transports (and closed ones) at each health check. Default true.
    public var autoCleanup = true
    /// How often health is checked; nil never. Default 30 s.
    public var healthCheckInterval: Duration? = .seconds(30)
    /// Reconnecting (or connecting) for longer than this is unhealthy. Default 60 s.
    public var maxReconnectingTime: Duration = .seconds(60)
    /// Connected but without a byte for this long is unhealthy (stalled). Default 2 minutes.
    public var maxSilence: Duration = .seconds(120)

    public init() {}
}

/// What a manager reports, besides each transport's own events.
public enum TransportManagerEvent: Sendable, Equatable {
    /// `transport:error`: a transport reported an error.
    case transportError(id: String, TransportError)
    /// `health:unhealthy`: a health check found a transport stalled, erroring or reconnecting too long.
    case unhealthy(id: String, reason: String)
    /// Auto-cleanup closed and removed an idle or closed transport.
    case removed(id: String, reason: String)
}

/// A pool of transports with limits, health checks and totals.
///
/// ```swift
/// let manager = TransportManager(loop: loop)
/// let news = try manager.createTransport(.sse(url: "http://127.0.0.1:8080/channels/news/sse"))
/// news.connect()
/// print(manager.summary().utilisation)
/// ```
public final class TransportManager: Sendable {
    public let configuration: TransportManagerConfiguration
    private let loop: EventLoop
    private let pool = Locked<[String: ManagedTransport]>([:])
    private let health = Locked<[String: Int]>([:])  // errors seen at the last check
    private let continuation: AsyncStream<TransportManagerEvent>.Continuation
    /// Manager events: errors, unhealthy transports, removals. Buffers the newest 1,000.
    public let events: AsyncStream<TransportManagerEvent>
    private let checker = Locked<Task<Void, Never>?>(nil)

    public struct PoolFull: Error, Equatable, CustomStringConvertible {
        public var maxPoolSize: Int
        public var description: String { "the pool holds its maximum of \(maxPoolSize) transports" }
        public init(maxPoolSize: Int) { self.maxPoolSize = maxPoolSize }
    }

    public init(configuration: TransportManagerConfiguration = TransportManagerConfiguration(), loop: EventLoop) {
        self.configuration = configuration
        self.loop = loop
        (events, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1000))
        if let interval = configuration.healthCheckInterval {
            checker.withLock { $0 = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    self.checkHealth()
                }
            } }
        }
    }

    deinit {
        checker.withLock { $0?.cancel() }
        continuation.finish()
    }

    /// Creates a transport (not yet connected) and adds it to the pool.
    public func createTransport(_ spec: TransportSpec) throws -> ManagedTransport {
        let transport = try ManagedTransport(spec, loop: loop)
        try pool.withLock { all in
            guard all.count < configuration.maxPoolSize else { throw PoolFull(maxPoolSize: configuration.maxPoolSize) }
            all[transport.id] = transport
        }
        let id = transport.id
        let continuation = self.continuation
        transport.recorder.onError { error in continuation.yield(.transportError(id: id, error)) }
        return transport
    }

    public func transport(_ id: String) -> ManagedTransport? { pool.withLock { $0[id] } }

    public var transports: [ManagedTransport] { pool.withLock { Array($0.values) } }

    /// Closes a transport and forgets it.
    public func remove(_ id: String) {
        let removed = pool.withLock { $0.removeValue(forKey: id) }
        removed?.close()
        health.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Closes and forgets every transport.
    public func closeAll() {
        let all = pool.withLock { all -> [ManagedTransport] in
            defer { all.removeAll() }
            return Array(all.values)
        }
        all.forEach { $0.close() }
        health.withLock { $0.removeAll() }
    }

    /// Pool use and totals over the transports held now.
    public struct Summary: Sendable, Equatable {
        public var poolSize: Int
        public var maxPoolSize: Int
        /// poolSize / maxPoolSize.
        public var utilisation: Double
        public var byState: [TransportMetrics.State: Int]
        public var messagesReceived: Int
        public var messagesSent: Int
        public var bytesReceived: Int
        public var bytesSent: Int
        public var errors: Int
        public var reconnectAttempts: Int
        public var dropped: Int
    }

    public func summary() -> Summary {
        let metrics = transports.map(\.metrics)
        var byState: [TransportMetrics.State: Int] = [:]
        for m in metrics { byState[m.state, default: 0] += 1 }
        return Summary(
            poolSize: metrics.count, maxPoolSize: configuration.maxPoolSize,
            utilisation: Double(metrics.count) / Double(configuration.maxPoolSize), byState: byState,
            messagesReceived: metrics.reduce(0) { $0 + $1.messagesReceived }, messagesSent: metrics.reduce(0) { $0 + $1.messagesSent },
            bytesReceived: metrics.reduce(0) { $0 + $1.bytesReceived }, bytesSent: metrics.reduce(0) { $0 + $1.bytesSent },
            errors: metrics.reduce(0) { $0 + $1.errors }, reconnectAttempts: metrics.reduce(0) { $0 + $1.reconnectAttempts },
            dropped: metrics.reduce(0) { $0 + $1.dropped })
    }

    /// One health check (the manager runs it every `healthCheckInterval`; tests call it directly).
    /// Unhealthy: reconnecting or connecting longer than `maxReconnectingTime`, connected but silent
    /// longer than `maxSilence` (stalled), or new errors since the last check (erroring). With
    /// `autoCleanup`, idle transports (nothing for `maxIdleTime`) and closed ones are removed.
    public func checkHealth(now: ContinuousClock.Instant = .now) {
        for transport in transports {
            let id = transport.id
            let m = transport.metrics
            let (lastActivity, stateSince) = transport.recorder.timing
            let errorsBefore = health.withLock { seen in
                defer { seen[id] = m.errors }
                return seen[id] ?? 0
            }
            if configuration.autoCleanup {
                if m.state == .closed {
                    remove(id)
                    continuation.yield(.removed(id: id, reason: "closed"))
                    continue
                }
                if now - lastActivity > configuration.maxIdleTime {
                    remove(id)
                    continuation.yield(.removed(id: id, reason: "idle for more than \(configuration.maxIdleTime)"))
                    continue
                }
            }
            if (m.state == .reconnecting || m.state == .connecting) && now - stateSince > configuration.maxReconnectingTime {
                continuation.yield(.unhealthy(id: id, reason: "\(m.state.rawValue) for more than \(configuration.maxReconnectingTime)"))
            } else if m.state == .connected && now - lastActivity > configuration.maxSilence {
                continuation.yield(.unhealthy(id: id, reason: "stalled: nothing for more than \(configuration.maxSilence)"))
            } else if m.errors > errorsBefore {
                continuation.yield(.unhealthy(id: id, reason: "erroring: \(m.errors - errorsBefore) new errors"))
            }
        }
    }
}
