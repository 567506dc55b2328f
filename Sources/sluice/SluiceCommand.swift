import ArgumentParser

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A streaming HTTP test server (SSE, streamed bodies, WebSocket) and a client to consume streams.",
        subcommands: [ServeCommand.self, ListenCommand.self, AccumulateCommand.self, CheckCommand.self, LoadCommand.self],
        defaultSubcommand: ServeCommand.self)
}
