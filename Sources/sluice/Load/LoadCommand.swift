import ArgumentParser
import Foundation
import SluiceClient
import SluiceCore

/// Load generators for scripts/bench, built on the project's own stack.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load generators for benchmarks: idle client transports, SSE fan-out readers, WebSocket echo.",
        subcommands: [IdleLoadCommand.self, FanoutLoadCommand.self, EchoLoadCommand.self])
}

/// What the raw load generators share.
enum LoadTarget {
    /// The numeric address and request target of a plain (not TLS) URL: the raw loaders connect
    /// without DNS or TLS. `form` names the URL they expect, for the error.
    static func plain(_ url: String, form: String) throws -> (endpoint: ClientEndpoint, address: NumericAddress) {
        guard let endpoint = ClientEndpoint(url: url), !endpoint.secure,
              let address = NumericAddress(host: endpoint.host, port: endpoint.port) else {
            throw ValidationError("need \(form) with a numeric address, got \(url)")
        }
        return (endpoint, address)
    }

    /// User + system CPU seconds of this process (a loader reports its share, to show it is not the
    /// bottleneck).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
