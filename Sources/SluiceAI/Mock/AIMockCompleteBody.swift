import Foundation
import SluiceCore

extension AIMockFrames {
    /// The non-streamed answer (`"stream": false`), in the dialect's response shape.
    public static func completeBody(_ script: AIScript, dialect: AIDialect, shape: AIMockShape) -> String {
        let (input, output) = (inputTokens(script), outputTokens(script))
        switch dialect {
        case .openAIChat:
            var message: [String: Any] = ["role": "assistant", "content": script.text.isEmpty && !script.toolCalls.isEmpty ? NSNull() : script.text]
            if let thinking = script.thinking { message["reasoning_content"] = thinking }
            if !script.toolCalls.isEmpty {
                message["tool_calls"] = script.toolCalls.enumerated().map { i, call in
                    ["id": id("call_", shape, i + 1), "type": "function", "function": ["name": call.name, "arguments": call.arguments.jsonText]]
                }
            }
            return json([
                "id": id("chatcmpl-", shape), "object": "chat.completion", "created": created, "model": shape.model,
                "choices": [["index": 0, "message": message,
                             "finish_reason": script.stopReason ?? (script.toolCalls.isEmpty ? "stop" : "tool_calls")]],
                "usage": ["prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output],
            ])
        case .anthropic:
            var content: [Any] = []
            if let thinking = script.thinking { content.append(["type": "thinking", "thinking": thinking, "signature": id("sig", shape, 99)]) }
            if !script.text.isEmpty { content.append(["type": "text", "text": script.text]) }
            for (i, call) in script.toolCalls.enumerated() {
                let input = try? JSONSerialization.jsonObject(with: Data(call.arguments.jsonText.utf8))
                content.append(["type": "tool_use", "id": id("toolu_", shape, i + 1), "name": call.name, "input": input ?? [:]])
            }
            return json([
                "id": id("msg_", shape), "type": "message", "role": "assistant", "model": shape.model, "content": content,
                "stop_reason": script.stopReason ?? (script.toolCalls.isEmpty ? "end_turn" : "tool_use"), "stop_sequence": NSNull(),
                "usage": ["input_tokens": input, "output_tokens": output],
            ])
        case .openAIResponses:
            // The same object `response.completed` carries at the end of the stream.
            let last = stream(script, dialect: .openAIResponses, shape: shape).last!
            let object = try! JSONSerialization.jsonObject(with: Data(last.data.utf8)) as! [String: Any]
            return json(object["response"]!)
        }
    }
}
