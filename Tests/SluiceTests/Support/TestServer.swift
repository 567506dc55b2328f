import Logging
@testable import Sluice

/// A server on 127.0.0.1 and a kernel-chosen port, for one test.
struct TestServer {
    let server: Server
    let port: Int

    init(
        loops: Int = 2, host: String = "127.0.0.1",
        configure: (inout ServerConfiguration) -> Void = { _ in },
        routes: (inout Router) -> Void
    ) throws {
        var router = Router()
        routes(&router)
        var configuration = ServerConfiguration(host: host, port: 0, loops: loops)
        var logger = Logger(label: "sluice-test")
        logger.logLevel = .critical
        configuration.logger = logger
        configure(&configuration)
        server = Server(router: router, configuration: configuration)
        try server.start()
        port = server.port!
    }

    var base: String { "http://127.0.0.1:\(port)" }

    func stop() async { await server.shutdown() }
}

/// Runs `body` against a fresh server and always shuts it down.
func withServer<T>(
    loops: Int = 2, host: String = "127.0.0.1",
    configure: (inout ServerConfiguration) -> Void = { _ in },
    routes: (inout Router) -> Void = { $0.addTestEndpoints() },
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let server = try TestServer(loops: loops, host: host, configure: configure, routes: routes)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// The test endpoints plus `/tracked-ndjson` and `/tracked-sse`, which behave like `/ndjson` and
/// `/sse` but count their handlers as they start: a test can wait until a request is really in
/// flight (accepting a connection is not enough) before it shuts the server down.
func trackedRoutes(_ started: Locked<Int>) -> (inout Router) -> Void {
    { router in
        router.addTestEndpoints()
        router.stream("/tracked-ndjson") { request, body in
            started.withLock { $0 += 1 }
            try await NDJSONEndpoint.handle(request, body)
        }
        router.sse("/tracked-sse") { request, events in
            started.withLock { $0 += 1 }
            try await SSEEndpoint.handle(request, events)
        }
    }
}
