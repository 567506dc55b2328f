import SluiceCore

/// OpenAI Chat Completions streaming: `data: {"object":"chat.completion.chunk","choices":[{"index":0,
/// "delta":{…},"finish_reason":…}],"usage":…}` frames, then `data: [DONE]`. Tool calls arrive by
/// `tool_calls[].index`: the first piece names `id` and `function.name`, later ones carry only
/// `function.arguments` fragments. `reasoning_content`/`reasoning` (DeepSeek, OpenRouter, vLLM) is
/// thinking. An `{"error":{…}}` frame is a mid-stream error.
struct OpenAIChatDecoder: AIDialectDecoder {
    private var started = false

    mutating func decode(_ event: SSEParsedEvent) -> AIDecoded {
        if event.data == "[DONE]" { return AIDecoded(deltas: [.end]) }
        guard let frame = AIFrame(data: event.data) else { return AIDecoded(deltas: [AIFrame.invalid(event.data)]) }
        if let error = frame.frame("error") {
            return AIDecoded(deltas: [.error(AIStreamError(
                type: error.string("type") ?? error.string("code") ?? "error", message: error.string("message") ?? ""))])
        }
        guard frame.has("choices") || frame.has("usage") else { return .unknownFrame }
        var out: [AIStreamDelta] = []
        if !started, frame.string("id") != nil || frame.string("model") != nil {
            started = true
            out.append(.started(id: frame.string("id"), model: frame.string("model")))
        }
        for (position, choice) in frame.frames("choices").enumerated() {
            let index = choice.int("index") ?? position
            if let delta = choice.frame("delta") ?? choice.frame("message") {
                if let thinking = delta.string("reasoning_content") ?? delta.string("reasoning"), !thinking.isEmpty {
                    out.append(.thinking(thinking, choice: index))
                }
                if let text = delta.string("content"), !text.isEmpty { out.append(.text(text, choice: index)) }
                for (callPosition, call) in delta.frames("tool_calls").enumerated() {
                    let callIndex = call.int("index") ?? callPosition
                    let function = call.frame("function")
                    let id = call.string("id")
                    let name = function?.string("name")
                    if id != nil || (name.map { !$0.isEmpty } ?? false) {
                        out.append(.toolUseStart(choice: index, index: callIndex, id: id, name: name))
                    }
                    if let arguments = function?.string("arguments"), !arguments.isEmpty {
                        out.append(.toolUseDelta(choice: index, index: callIndex, partialJSON: arguments))
                    }
                }
            }
            if let reason = choice.string("finish_reason") { out.append(.stop(reason: reason, choice: index)) }
        }
        if let usage = frame.frame("usage") {
            out.append(.usage(AIUsage(inputTokens: usage.int("prompt_tokens"), outputTokens: usage.int("completion_tokens"),
                                      totalTokens: usage.int("total_tokens"))))
        }
        return AIDecoded(deltas: out)
    }
}
