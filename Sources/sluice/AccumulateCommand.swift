import ArgumentParser
import Foundation
import SluiceAI

struct AccumulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accumulate",
        abstract: "Print the final state of a recorded LLM stream (text/event-stream bytes) as one JSON object.",
        discussion: "Reads the file (or standard input for -) in 64 KiB pieces, as a network would deliver it.")

    @Argument(help: "A recorded stream, or - for standard input.")
    var file = "-"

    @Option(help: "openai, anthropic or auto (also openai-chat, openai-responses).")
    var dialect = "auto"

    func validate() throws {
        guard AccumulatedOutput.dialects(dialect) != nil else { throw ValidationError("unknown --dialect \(dialect)") }
    }

    func run() throws {
        let handle = file == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        let accumulator = AIStreamAccumulator(dialects: AccumulatedOutput.dialects(dialect)!)
        while true {
            let piece = handle.readData(ofLength: 64 * 1024)
            if piece.isEmpty { break }
            accumulator.feed(piece)
        }
        accumulator.finish()
        print(AccumulatedOutput(accumulator.state).json)
        if accumulator.state.error != nil { throw ExitCode(1) }
    }
}
