import Foundation
import SluiceAI
import SluiceClient

/// `sluice listen --accumulate`: feeds an SSE transport's events to the accumulator, shows text and
/// thinking as they stream (text format), and prints the final state as one JSON object.
struct AccumulatingListener {
    let format: String
    let dialects: Set<AIDialect>

    /// Returns false when the stream or the transport reported an error.
    func run(_ events: AsyncStream<TransportEvent>, close: @escaping @Sendable () -> Void) async -> Bool {
        let accumulator = AIStreamAccumulator(dialects: dialects)
        let streaming = format == "text"
        var wroteText = false
        if streaming {
            accumulator.onText = { text in
                FileHandle.standardOutput.write(Data(text.utf8))
                wroteText = true
            }
            accumulator.onThinking = { FileHandle.standardError.write(Data($0.utf8)) }
        }
        var ended = false
        // The end marker is the end: the connection closing right after it is no error.
        accumulator.onStreamEnd = { _ in
            ended = true
            close()
        }
        var transportError: String?
        for await event in events {
            switch event {
            case .event(let e):
                accumulator.feed(event: e)
            case .error(let error) where !ended:
                transportError = error.message
            default:
                break
            }
        }
        accumulator.finish()
        if wroteText { print() }
        let output = AccumulatedOutput(accumulator.state, transportError: transportError)
        print(output.json)
        fflush(nil)
        return output.error == nil
    }
}
