import ArgumentParser

/// Load generators for scripts/bench, built on the project's own stack.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load generators for benchmarks: idle client transports, SSE fan-out readers, WebSocket echo.",
        subcommands: [IdleLoadCommand.self, FanoutLoadCommand.self, EchoLoadCommand.self])
}
