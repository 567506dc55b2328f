import SluiceCore

/// OpenAI Responses API streaming: typed events (`response.created`, `response.output_item.added`,
/// `response.output_text.delta`, `response.function_call_arguments.delta`/`.done`,
/// `response.completed`, `error`…), each with a `sequence_number`, which lets a repeated frame be
/// recognised and dropped. Tool calls are indexed by `output_index`. There is no `[DONE]`:
/// `response.completed`, `.incomplete` or `.failed` ends the stream.
struct OpenAIResponsesDecoder: AIDialectDecoder {
    private var lastSequence = -1

    /// Events that carry nothing the accumulator keeps (the same content arrives in deltas).
    static let quietTypes: Set<String> = [
        "response.queued", "response.content_part.added", "response.content_part.done", "response.output_text.done",
        "response.output_text.annotation.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done", "response.reasoning_summary_text.done", "response.reasoning_text.done",
        "response.refusal.done",
    ]

    mutating func decode(_ event: SSEParsedEvent) -> AIDecoded {
        guard let frame = AIFrame(data: event.data) else { return AIDecoded(deltas: [AIFrame.invalid(event.data)]) }
        if let sequence = frame.int("sequence_number") {
            if sequence <= lastSequence { return AIDecoded(duplicate: true) }
            lastSequence = sequence
        }
        let index = frame.int("output_index") ?? 0
        let type = frame.type ?? event.type
        switch type {
        case "response.created", "response.in_progress":
            let response = frame.frame("response")
            return AIDecoded(deltas: [.started(id: response?.string("id"), model: response?.string("model"))])
        case "response.output_item.added":
            guard let item = frame.frame("item"), item.type == "function_call" else { return AIDecoded() }
            var out: [AIStreamDelta] = [.toolUseStart(choice: 0, index: index, id: item.string("call_id") ?? item.string("id"), name: item.string("name"))]
            if let arguments = item.string("arguments"), !arguments.isEmpty {
                out.append(.toolUseDelta(choice: 0, index: index, partialJSON: arguments))
            }
            return AIDecoded(deltas: out)
        case "response.output_item.done":
            guard let item = frame.frame("item"), item.type == "function_call" else { return AIDecoded() }
            return AIDecoded(deltas: [.toolUseEnd(choice: 0, index: index, arguments: item.string("arguments"))])
        case "response.output_text.delta", "response.refusal.delta":
            return AIDecoded(deltas: [.text(frame.string("delta") ?? "", choice: 0)])
        case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
            return AIDecoded(deltas: [.thinking(frame.string("delta") ?? "", choice: 0)])
        case "response.function_call_arguments.delta":
            return AIDecoded(deltas: [.toolUseDelta(choice: 0, index: index, partialJSON: frame.string("delta") ?? "")])
        case "response.function_call_arguments.done":
            return AIDecoded(deltas: [.toolUseEnd(choice: 0, index: index, arguments: frame.string("arguments"))])
        case "response.completed", "response.incomplete":
            let response = frame.frame("response")
            var out: [AIStreamDelta] = []
            if let usage = response?.frame("usage") {
                out.append(.usage(AIUsage(inputTokens: usage.int("input_tokens"), outputTokens: usage.int("output_tokens"),
                                          totalTokens: usage.int("total_tokens"))))
            }
            let reason = type == "response.completed"
                ? (response?.string("status") ?? "completed")
                : (response?.frame("incomplete_details")?.string("reason") ?? "incomplete")
            out += [.stop(reason: reason, choice: 0), .end]
            return AIDecoded(deltas: out)
        case "response.failed":
            let error = frame.frame("response")?.frame("error")
            return AIDecoded(deltas: [.error(AIStreamError(type: error?.string("code") ?? "response_failed",
                                                           message: error?.string("message") ?? "")), .end])
        case "error":
            return AIDecoded(deltas: [.error(AIStreamError(type: frame.string("code") ?? "error", message: frame.string("message") ?? ""))])
        default:
            return Self.quietTypes.contains(type) ? AIDecoded() : .unknownFrame
        }
    }
}
