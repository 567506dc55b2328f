import ArgumentParser

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A streaming HTTP test server (SSE, streamed bodies) that can misbehave on purpose.",
        subcommands: [ServeCommand.self],
        defaultSubcommand: ServeCommand.self)
}
