import SluiceCore

/// Anthropic Messages streaming: `message_start`, then per content block `content_block_start`,
/// `content_block_delta` (`text_delta`, `thinking_delta`, `signature_delta`, `input_json_delta`) and
/// `content_block_stop`, then `message_delta` (stop reason, output tokens) and `message_stop`; `ping`
/// anywhere; `error` mid-stream (e.g. `overloaded_error`). The type is read from the JSON's `type`
/// (the SSE `event:` line repeats it).
struct AnthropicDecoder: AIDialectDecoder {
    static let knownTypes: Set<String> = [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop", "ping",
    ]

    mutating func decode(_ event: SSEParsedEvent) -> AIDecoded {
        guard let frame = AIFrame(data: event.data) else { return AIDecoded(deltas: [AIFrame.invalid(event.data)]) }
        let index = frame.int("index") ?? 0
        switch frame.type ?? event.type {
        case "message_start":
            let message = frame.frame("message")
            var out: [AIStreamDelta] = [.started(id: message?.string("id"), model: message?.string("model"))]
            if let usage = message?.frame("usage") { out.append(.usage(Self.usage(usage))) }
            return AIDecoded(deltas: out)
        case "content_block_start":
            guard let block = frame.frame("content_block") else { return AIDecoded() }
            switch block.type {
            case "text":
                return AIDecoded(deltas: (block.string("text") ?? "").isEmpty ? [] : [.text(block.string("text")!, choice: 0)])
            case "thinking":
                return AIDecoded(deltas: (block.string("thinking") ?? "").isEmpty ? [] : [.thinking(block.string("thinking")!, choice: 0)])
            case "tool_use", "server_tool_use":
                return AIDecoded(deltas: [.toolUseStart(choice: 0, index: index, id: block.string("id"), name: block.string("name"))])
            default:
                return AIDecoded()  // redacted_thinking and other block kinds carry nothing to accumulate
            }
        case "content_block_delta":
            guard let delta = frame.frame("delta") else { return AIDecoded() }
            switch delta.type {
            case "text_delta": return AIDecoded(deltas: [.text(delta.string("text") ?? "", choice: 0)])
            case "thinking_delta": return AIDecoded(deltas: [.thinking(delta.string("thinking") ?? "", choice: 0)])
            case "signature_delta": return AIDecoded(deltas: [.thinkingSignature(delta.string("signature") ?? "", choice: 0)])
            case "input_json_delta":
                return AIDecoded(deltas: [.toolUseDelta(choice: 0, index: index, partialJSON: delta.string("partial_json") ?? "")])
            default: return .unknownFrame
            }
        case "content_block_stop":
            return AIDecoded(deltas: [.toolUseEnd(choice: 0, index: index, arguments: nil)])
        case "message_delta":
            var out: [AIStreamDelta] = []
            if let reason = frame.frame("delta")?.string("stop_reason") { out.append(.stop(reason: reason, choice: 0)) }
            if let usage = frame.frame("usage") { out.append(.usage(Self.usage(usage))) }
            return AIDecoded(deltas: out)
        case "message_stop":
            return AIDecoded(deltas: [.end])
        case "ping":
            return AIDecoded()
        case "error":
            let error = frame.frame("error")
            return AIDecoded(deltas: [.error(AIStreamError(type: error?.type ?? "error", message: error?.string("message") ?? ""))])
        default:
            return .unknownFrame
        }
    }

    private static func usage(_ usage: AIFrame) -> AIUsage {
        AIUsage(inputTokens: usage.int("input_tokens"), outputTokens: usage.int("output_tokens"))
    }
}
