import CLibevent
import Dispatch
import Logging
import ServiceLifecycle
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// The Sluice HTTP server: listeners, event loops and connections around one ``Router``.
///
/// It is a swift-service-lifecycle `Service`: `run()` serves until the task is cancelled or the
/// service group shuts down gracefully, then stops accepting, lets in-flight responses end within
/// ``ServerConfiguration/Timeouts/shutdownGrace`` and closes the rest.
///
/// ```swift
/// var router = Router()
/// router.get("/health") { _ in Response(text: "ok\n") }
/// let server = Server(router: router, configuration: ServerConfiguration(port: 0))
/// try server.start()
/// print(server.port!)              // the port the kernel chose
/// try await server.run()           // or: ServiceGroup(services: [server], ...)
/// ```
public final class Server: Service, Sendable {
    public let configuration: ServerConfiguration
    private let context: ServerContext
    private let group: EventLoopGroup
    private let registries: [ConnectionRegistry]
    private let openConnections = Locked(0)
    private let state = Locked(State())

    private struct State {
        var phase = Phase.created
        var listeners: [UnsafeSendable<OpaquePointer>] = []
        var bound: [(address: String, port: Int)] = []
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private enum Phase { case created, listening, stopping, stopped }

    public init(router: Router, configuration: ServerConfiguration = ServerConfiguration()) {
        self.configuration = configuration
        context = ServerContext(configuration: configuration, router: router)
        group = EventLoopGroup(count: configuration.loops)
        let openConnections = self.openConnections
        registries = group.loops.map { ConnectionRegistry(loop: $0, openCount: openConnections) }
    }

    /// The bound port, once started.
    public var port: Int? { state.withLock { $0.bound.first?.port } }

    /// Every bound address as `host:port`.
    public var addresses: [String] {
        state.withLock { $0.bound.map { ListeningSocket.format(host: $0.address, port: $0.port) } }
    }

    /// Connections open right now, on all loops.
    public var connectionCount: Int { openConnections.withLock { $0 } }

    /// Binds and starts accepting. Idempotent; throws if the address cannot be bound.
    public func start() throws {
        guard state.withLock({ $0.phase == .created }) else { return }
        let sockets = try ListeningSocket.bind(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        let acceptLoop = group.loops[0]
        let me = UnsafeSendable(Unmanaged.passUnretained(self).toOpaque())
        var listeners: [UnsafeSendable<OpaquePointer>] = []
        for socket in sockets {
            let made = onLoop(acceptLoop) {
                UnsafeSendable(evconnlistener_new(
                    acceptLoop.base,
                    { _, fd, address, length, ctx in
                        Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue().accept(fd: fd, address: address, length: length)
                    },
                    me.value, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, -1, socket.fd))
            }
            if let listener = made.value {
                evconnlistener_set_error_cb(listener) { listener, ctx in
                    Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue().acceptFailed(listener!)
                }
                listeners.append(UnsafeSendable(listener))
            } else {
                Glibc.close(socket.fd)
            }
        }
        state.withLock {
            $0.phase = .listening
            $0.listeners = listeners
            $0.bound = sockets.map { ($0.address, $0.port) }
        }
        for address in addresses { configuration.logger.info("listening on \(address)") }
    }

    private func accept(fd: Int32, address: UnsafeMutablePointer<sockaddr>?, length: Int32) {
        let peer = address.map { ListeningSocket.describe($0, length: socklen_t(length)) }
        let remote = peer.map { ListeningSocket.format(host: $0.host, port: $0.port) } ?? "unknown"
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let loop = group.next()
        let registry = registries[loop.index]
        let context = self.context
        let tls = configuration.tls
        loop.execute {
            let detector = ProtocolDetector(fd: fd, remoteAddress: remote, loop: loop, context: context, registry: registry, tls: tls)
            registry.add(detector)
            detector.start()
        }
    }

    /// accept() failed for a reason other than a peer giving up, typically EMFILE: stop accepting for
    /// a moment instead of spinning on a listener that stays readable. Loop 0's thread.
    private func acceptFailed(_ listener: OpaquePointer) {
        configuration.logger.warning("accept failed: \(String(cString: strerror(errno))); pausing accepts for 100 ms")
        evconnlistener_disable(listener)
        var delay = timeval(tv_sec: 0, tv_usec: 100_000)
        let context = Unmanaged.passRetained(AcceptRetry(server: self, listener: listener)).toOpaque()
        event_base_once(group.loops[0].base, -1, Int16(EV_TIMEOUT), { _, _, raw in
            let retry = Unmanaged<AcceptRetry>.fromOpaque(raw!).takeRetainedValue()
            // The listener may have been freed by shutdown meanwhile (on this same thread).
            let live = retry.server.state.withLock { s in
                s.phase == .listening && s.listeners.contains { $0.value == retry.listener }
            }
            if live { evconnlistener_enable(retry.listener) }
        }, context, &delay)
    }

    private final class AcceptRetry {
        let server: Server
        let listener: OpaquePointer
        init(server: Server, listener: OpaquePointer) {
            self.server = server
            self.listener = listener
        }
    }

    /// Serves until cancelled or told to shut down gracefully.
    public func run() async throws {
        try start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await waitUntilStopped()
            } onGracefulShutdown: {
                Task { await self.shutdown() }
            }
        } onCancel: {
            Task { await self.shutdown() }
        }
    }

    /// Stops accepting, lets in-flight responses end within the grace period, closes what is left and
    /// stops the loops. Safe to call more than once; every caller returns once the server has stopped.
    public func shutdown() async {
        let first = state.withLock { s -> Bool in
            guard s.phase == .created || s.phase == .listening else { return false }
            s.phase = .stopping
            return true
        }
        guard first else { return await waitUntilStopped() }
        let listeners = state.withLock { s in
            defer { s.listeners = [] }
            return s.listeners
        }
        onLoop(group.loops[0]) { for listener in listeners { evconnlistener_free(listener.value) } }
        for registry in registries { registry.loop.execute { registry.beginShutdown() } }
        if !(await waitForConnections(within: configuration.timeouts.shutdownGrace)) {
            configuration.logger.info("grace period over: closing \(connectionCount) connection(s)")
            for registry in registries { registry.loop.execute { registry.closeAll(reason: "shutdown grace period over") } }
            _ = await waitForConnections(within: .seconds(2))
        }
        await group.shutdown()
        let waiters = state.withLock { s in
            s.phase = .stopped
            defer { s.stopWaiters = [] }
            return s.stopWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = state.withLock { s -> Bool in
                if s.phase == .stopped { return true }
                s.stopWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
    }

    private func waitForConnections(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while connectionCount > 0 {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Runs `body` on `loop` and waits for its result. Not from that loop's own thread.
    private func onLoop<T>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) -> T {
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }
}
