/// One step of an LLM stream, the same for every provider dialect: what the accumulator's
/// AsyncSequence yields and what its state is built from.
///
/// `choice` is the OpenAI choice index (0 for Anthropic and the Responses API); a tool call's `index`
/// is the provider's own (OpenAI `tool_calls[].index`, Anthropic content block index, Responses
/// `output_index`).
public enum AIStreamDelta: Sendable, Equatable {
    /// The response's id and model, when the provider names them.
    case started(id: String?, model: String?)
    case text(String, choice: Int)
    case thinking(String, choice: Int)
    /// Anthropic's signature over a thinking block.
    case thinkingSignature(String, choice: Int)
    case toolUseStart(choice: Int, index: Int, id: String?, name: String?)
    /// A piece of a tool call's JSON arguments, to append as is.
    case toolUseDelta(choice: Int, index: Int, partialJSON: String)
    /// The tool call's arguments are complete. `arguments`, when given, is the provider's own full
    /// copy (Responses API `…arguments.done`) and replaces what was assembled.
    case toolUseEnd(choice: Int, index: Int, arguments: String?)
    /// Token counts; a field left nil keeps the previous value.
    case usage(AIUsage)
    case stop(reason: String, choice: Int)
    /// An error the provider reported in the stream, or one the accumulator found (bad JSON,
    /// truncated stream).
    case error(AIStreamError)
    /// The provider's end marker (`[DONE]`, `message_stop`, `response.completed`).
    case end
}

/// Token counts of a response.
public struct AIUsage: Sendable, Equatable, Codable {
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var totalTokens: Int?

    public init(inputTokens: Int? = nil, outputTokens: Int? = nil, totalTokens: Int? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens
    }

    /// Fields present in `newer` replace ours (Anthropic sends input tokens first, output tokens later).
    mutating func merge(_ newer: AIUsage) {
        inputTokens = newer.inputTokens ?? inputTokens
        outputTokens = newer.outputTokens ?? outputTokens
        totalTokens = newer.totalTokens ?? totalTokens
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens", outputTokens = "output_tokens", totalTokens = "total_tokens"
    }
}

/// An error in or about a stream. `type` is the provider's (e.g. `overloaded_error`,
/// `rate_limit_error`) or one of the accumulator's own:
/// - `invalid_json`: a frame's data was not the JSON the dialect promises;
/// - `incomplete_stream`: the bytes ended before the provider's end marker;
/// - `invalid_tool_arguments`: a finished tool call's arguments are not valid JSON.
public struct AIStreamError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var type: String
    public var message: String

    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    public var description: String { "\(type): \(message)" }
}
