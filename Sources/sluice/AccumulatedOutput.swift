import Foundation
import SluiceAI

/// The final state of an accumulated LLM stream as one JSON object: what `sluice listen --accumulate`
/// and `sluice accumulate` print last.
struct AccumulatedOutput: Encodable {
    var dialect: AIDialect?
    var id: String?
    var model: String?
    var text: String
    var thinking: String
    var toolCalls: [AIToolCall]
    var usage: AIUsage
    var stopReason: String?
    var finished: Bool
    var error: AIStreamError?
    var errors: [AIStreamError]
    var unknownEvents: Int
    /// Every choice, when the stream had more than one.
    var choices: [AIChoice]?

    init(_ state: AIStreamState, transportError: String? = nil) {
        dialect = state.dialect
        id = state.id
        model = state.model
        text = state.text
        thinking = state.thinking
        toolCalls = state.toolCalls
        usage = state.usage
        stopReason = state.stopReason
        finished = state.finished
        errors = state.errors
        if let transportError { errors.append(AIStreamError(type: "transport", message: transportError)) }
        error = errors.last
        unknownEvents = state.unknownEvents
        choices = state.choices.count > 1 ? state.choices : nil
    }

    enum CodingKeys: String, CodingKey {
        case dialect, id, model, text, thinking, toolCalls = "tool_calls", usage, stopReason = "stop_reason", finished, error
        case errors, unknownEvents = "unknown_events", choices
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The `--accumulate` choices: which dialects to expect.
    static func dialects(_ name: String) -> Set<AIDialect>? {
        switch name {
        case "auto": Set(AIDialect.allCases)
        case "openai": [.openAIChat, .openAIResponses]
        case "anthropic": [.anthropic]
        default: AIDialect(rawValue: name).map { [$0] }
        }
    }
}
