/// Everything accumulated from one LLM stream so far.
///
/// ```swift
/// let state = accumulator.state
/// print(state.text, state.toolCalls.first?.parsedArguments?["city"]?.string ?? "", state.stopReason ?? "")
/// ```
public struct AIStreamState: Sendable, Equatable, Codable {
    public var dialect: AIDialect?
    public var id: String?
    public var model: String?
    /// One entry per OpenAI choice; Anthropic and the Responses API have one.
    public var choices: [AIChoice] = []
    public var usage = AIUsage()
    /// The provider's end marker arrived.
    public var finished = false
    /// The last error (see ``AIStreamError`` for the kinds); every one is in `errors`.
    public var error: AIStreamError? { errors.last }
    public var errors: [AIStreamError] = []
    /// Frames of a type the dialect does not know (ignored), and duplicates dropped by sequence number.
    public var unknownEvents = 0
    public var duplicateEvents = 0

    public init() {}

    /// Text of the first choice.
    public var text: String { choices.first?.text ?? "" }
    /// Thinking of the first choice.
    public var thinking: String { choices.first?.thinking ?? "" }
    /// Tool calls of the first choice, in index order.
    public var toolCalls: [AIToolCall] { choices.first?.toolCalls ?? [] }
    /// Stop reason of the first choice.
    public var stopReason: String? { choices.first?.stopReason }

    enum CodingKeys: String, CodingKey {
        case dialect, id, model, choices, usage, finished, errors
        case unknownEvents = "unknown_events", duplicateEvents = "duplicate_events"
    }
}

/// One choice (OpenAI) or the whole message (Anthropic, Responses API).
public struct AIChoice: Sendable, Equatable, Codable {
    public var index: Int
    public var text = ""
    public var thinking = ""
    public var thinkingSignature: String?
    public var toolCalls: [AIToolCall] = []
    public var stopReason: String?

    public init(index: Int) { self.index = index }

    enum CodingKeys: String, CodingKey {
        case index, text, thinking, thinkingSignature = "thinking_signature", toolCalls = "tool_calls"
        case stopReason = "stop_reason"
    }
}

/// A tool call as it streams: arguments are appended piece by piece and parsed once, when the call is
/// complete.
public struct AIToolCall: Sendable, Equatable, Codable {
    /// The provider's index for the call (see ``AIStreamDelta``).
    public var index: Int
    public var id: String?
    public var name: String?
    /// The raw JSON text, as assembled.
    public var arguments = ""
    public var complete = false
    /// The arguments parsed, once complete and valid. Empty arguments parse as `{}`.
    public var parsedArguments: JSONValue?
    /// Why the complete arguments did not parse.
    public var argumentsError: String?

    public init(index: Int, id: String? = nil, name: String? = nil) {
        self.index = index
        self.id = id
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case index, id, name, arguments, complete, parsedArguments = "parsed_arguments", argumentsError = "arguments_error"
    }
}

/// The wire formats the accumulator reads.
public enum AIDialect: String, Sendable, Equatable, Codable, CaseIterable {
    /// OpenAI Chat Completions (`chat.completion.chunk`, `data: [DONE]`), also what most
    /// "OpenAI-compatible" servers speak.
    case openAIChat = "openai-chat"
    /// OpenAI Responses API (`response.output_text.delta`, …).
    case openAIResponses = "openai-responses"
    /// Anthropic Messages (`message_start`, `content_block_delta`, …).
    case anthropic
}
