import Foundation
import SluiceCore

/// One SSE frame a mock provider sends.
public struct AIMockFrame: Sendable, Equatable {
    public var event: String?
    public var data: String

    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

/// How a mock answer is cut into frames.
public struct AIMockShape: Sendable {
    /// The model name echoed back.
    public var model: String
    /// Words of text or thinking per frame.
    public var wordsPerFrame = 1
    /// Characters of tool-call arguments per frame.
    public var argumentBytesPerFrame = 12
    /// OpenAI Chat: a last chunk with `usage` (`stream_options.include_usage`).
    public var includeUsage = true
    /// Seeds the ids, so a run is reproducible.
    public var seed: UInt64 = 1

    public init(model: String) { self.model = model }
}

/// The streamed frames, the complete (non-streamed) body, and the error shapes of each provider
/// dialect, for a scripted answer: the mock endpoints' wire formats, kept beside the decoders that
/// read them. Pure.
public enum AIMockFrames {
    /// Every frame of the streamed answer, the end marker last.
    public static func stream(_ script: AIScript, dialect: AIDialect, shape: AIMockShape) -> [AIMockFrame] {
        switch dialect {
        case .openAIChat: openAIChat(script, shape)
        case .anthropic: anthropic(script, shape)
        case .openAIResponses: openAIResponses(script, shape)
        }
    }

    /// The frame a provider sends for an error in the middle of a stream.
    public static func midStreamError(dialect: AIDialect, type: String, message: String, sequence: Int) -> AIMockFrame {
        switch dialect {
        case .openAIChat:
            AIMockFrame(data: json(["error": ["message": message, "type": type, "param": NSNull(), "code": NSNull()]]))
        case .anthropic:
            AIMockFrame(event: "error", data: json(["type": "error", "error": ["type": type, "message": message]]))
        case .openAIResponses:
            AIMockFrame(event: "error", data: json(["type": "error", "code": type, "message": message, "param": NSNull(),
                                                    "sequence_number": sequence]))
        }
    }

    /// A provider-shaped error response body.
    public static func errorBody(dialect: AIDialect, type: String, message: String, code: String? = nil) -> String {
        switch dialect {
        case .openAIChat, .openAIResponses:
            json(["error": ["message": message, "type": type, "param": NSNull(), "code": code.map { $0 as Any } ?? NSNull()]])
        case .anthropic:
            json(["type": "error", "error": ["type": type, "message": message]])
        }
    }

    // MARK: Token counts and ids

    static func outputTokens(_ script: AIScript) -> Int {
        script.text.tokenPieces(wordsPerPiece: 1).count + (script.thinking?.tokenPieces(wordsPerPiece: 1).count ?? 0)
            + script.toolCalls.reduce(0) { $0 + max(1, $1.arguments.jsonText.utf8.count / 4) }
    }

    static func inputTokens(_ script: AIScript) -> Int { script.inputTokens ?? 12 }

    static func id(_ prefix: String, _ shape: AIMockShape, _ n: Int = 0) -> String {
        var random = SplitMix64(seed: shape.seed &+ UInt64(n))
        return prefix + String(random.next() % 1_000_000_000_000, radix: 36)
    }

    static let created = 1_767_225_600  // a fixed time, so answers are byte-for-byte reproducible

    static func json(_ object: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: OpenAI Chat Completions

    private static func openAIChat(_ script: AIScript, _ shape: AIMockShape) -> [AIMockFrame] {
        let id = id("chatcmpl-", shape)
        func chunk(_ delta: [String: Any], finish: String? = nil) -> AIMockFrame {
            AIMockFrame(data: json([
                "id": id, "object": "chat.completion.chunk", "created": created, "model": shape.model,
                "choices": [["index": 0, "delta": delta, "finish_reason": finish.map { $0 as Any } ?? NSNull()]],
            ]))
        }
        var frames = [chunk(["role": "assistant", "content": ""])]
        for piece in script.thinking?.tokenPieces(wordsPerPiece: shape.wordsPerFrame) ?? [] {
            frames.append(chunk(["reasoning_content": piece]))
        }
        for piece in script.text.tokenPieces(wordsPerPiece: shape.wordsPerFrame) { frames.append(chunk(["content": piece])) }
        for (i, call) in script.toolCalls.enumerated() {
            frames.append(chunk(["tool_calls": [["index": i, "id": Self.id("call_", shape, i + 1), "type": "function",
                                                 "function": ["name": call.name, "arguments": ""]]]]))
            for piece in call.arguments.jsonText.pieces(of: shape.argumentBytesPerFrame) {
                frames.append(chunk(["tool_calls": [["index": i, "function": ["arguments": piece]]]]))
            }
        }
        frames.append(chunk([:], finish: script.stopReason ?? (script.toolCalls.isEmpty ? "stop" : "tool_calls")))
        if shape.includeUsage {
            let (input, output) = (inputTokens(script), outputTokens(script))
            frames.append(AIMockFrame(data: json([
                "id": id, "object": "chat.completion.chunk", "created": created, "model": shape.model, "choices": [],
                "usage": ["prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output],
            ])))
        }
        frames.append(AIMockFrame(data: "[DONE]"))
        return frames
    }

    // MARK: Anthropic Messages

    private static func anthropic(_ script: AIScript, _ shape: AIMockShape) -> [AIMockFrame] {
        func frame(_ type: String, _ fields: [String: Any]) -> AIMockFrame {
            var object = fields
            object["type"] = type
            return AIMockFrame(event: type, data: json(object))
        }
        var frames = [
            frame("message_start", ["message": [
                "id": id("msg_", shape), "type": "message", "role": "assistant", "content": [], "model": shape.model,
                "stop_reason": NSNull(), "stop_sequence": NSNull(),
                "usage": ["input_tokens": inputTokens(script), "output_tokens": 1],
            ]]),
            frame("ping", [:]),
        ]
        var index = 0
        if let thinking = script.thinking {
            frames.append(frame("content_block_start", ["index": index, "content_block": ["type": "thinking", "thinking": ""]]))
            for piece in thinking.tokenPieces(wordsPerPiece: shape.wordsPerFrame) {
                frames.append(frame("content_block_delta", ["index": index, "delta": ["type": "thinking_delta", "thinking": piece]]))
            }
            frames.append(frame("content_block_delta", ["index": index, "delta": ["type": "signature_delta", "signature": id("sig", shape, 99)]]))
            frames.append(frame("content_block_stop", ["index": index]))
            index += 1
        }
        if !script.text.isEmpty {
            frames.append(frame("content_block_start", ["index": index, "content_block": ["type": "text", "text": ""]]))
            for piece in script.text.tokenPieces(wordsPerPiece: shape.wordsPerFrame) {
                frames.append(frame("content_block_delta", ["index": index, "delta": ["type": "text_delta", "text": piece]]))
            }
            frames.append(frame("content_block_stop", ["index": index]))
            index += 1
        }
        for (i, call) in script.toolCalls.enumerated() {
            frames.append(frame("content_block_start", ["index": index, "content_block": [
                "type": "tool_use", "id": id("toolu_", shape, i + 1), "name": call.name, "input": [String: Any](),
            ]]))
            for piece in call.arguments.jsonText.pieces(of: shape.argumentBytesPerFrame) {
                frames.append(frame("content_block_delta", ["index": index, "delta": ["type": "input_json_delta", "partial_json": piece]]))
            }
            frames.append(frame("content_block_stop", ["index": index]))
            index += 1
        }
        frames.append(frame("message_delta", [
            "delta": ["stop_reason": script.stopReason ?? (script.toolCalls.isEmpty ? "end_turn" : "tool_use"), "stop_sequence": NSNull()],
            "usage": ["output_tokens": outputTokens(script)],
        ]))
        frames.append(frame("message_stop", [:]))
        return frames
    }

    // MARK: OpenAI Responses

    private static func openAIResponses(_ script: AIScript, _ shape: AIMockShape) -> [AIMockFrame] {
        var sequence = 0
        var frames: [AIMockFrame] = []
        func emit(_ type: String, _ fields: [String: Any]) {
            var object = fields
            object["type"] = type
            object["sequence_number"] = sequence
            sequence += 1
            frames.append(AIMockFrame(event: type, data: json(object)))
        }
        let responseID = id("resp_", shape)
        func response(status: String, output: [Any], usage: Any = NSNull()) -> [String: Any] {
            ["id": responseID, "object": "response", "created_at": created, "status": status, "model": shape.model,
             "output": output, "usage": usage]
        }
        emit("response.created", ["response": response(status: "in_progress", output: [])])
        var output: [Any] = []
        var index = 0
        if let thinking = script.thinking {
            let item = id("rs_", shape, 50)
            emit("response.output_item.added", ["output_index": index, "item": ["id": item, "type": "reasoning", "summary": []]])
            for piece in thinking.tokenPieces(wordsPerPiece: shape.wordsPerFrame) {
                emit("response.reasoning_summary_text.delta", ["item_id": item, "output_index": index, "summary_index": 0, "delta": piece])
            }
            let done: [String: Any] = ["id": item, "type": "reasoning", "summary": [["type": "summary_text", "text": thinking]]]
            emit("response.output_item.done", ["output_index": index, "item": done])
            output.append(done)
            index += 1
        }
        if !script.text.isEmpty {
            let item = id("msg_", shape, 51)
            emit("response.output_item.added", ["output_index": index, "item": [
                "id": item, "type": "message", "status": "in_progress", "role": "assistant", "content": []]])
            emit("response.content_part.added", ["item_id": item, "output_index": index, "content_index": 0,
                                                 "part": ["type": "output_text", "text": "", "annotations": []]])
            for piece in script.text.tokenPieces(wordsPerPiece: shape.wordsPerFrame) {
                emit("response.output_text.delta", ["item_id": item, "output_index": index, "content_index": 0, "delta": piece])
            }
            emit("response.output_text.done", ["item_id": item, "output_index": index, "content_index": 0, "text": script.text])
            let part: [String: Any] = ["type": "output_text", "text": script.text, "annotations": []]
            emit("response.content_part.done", ["item_id": item, "output_index": index, "content_index": 0, "part": part])
            let done: [String: Any] = ["id": item, "type": "message", "status": "completed", "role": "assistant", "content": [part]]
            emit("response.output_item.done", ["output_index": index, "item": done])
            output.append(done)
            index += 1
        }
        for (i, call) in script.toolCalls.enumerated() {
            let item = id("fc_", shape, 60 + i)
            let callID = id("call_", shape, i + 1)
            let arguments = call.arguments.jsonText
            emit("response.output_item.added", ["output_index": index, "item": [
                "id": item, "type": "function_call", "status": "in_progress", "call_id": callID, "name": call.name, "arguments": ""]])
            for piece in arguments.pieces(of: shape.argumentBytesPerFrame) {
                emit("response.function_call_arguments.delta", ["item_id": item, "output_index": index, "delta": piece])
            }
            emit("response.function_call_arguments.done", ["item_id": item, "output_index": index, "arguments": arguments])
            let done: [String: Any] = ["id": item, "type": "function_call", "status": "completed", "call_id": callID,
                                       "name": call.name, "arguments": arguments]
            emit("response.output_item.done", ["output_index": index, "item": done])
            output.append(done)
            index += 1
        }
        let (input, outputTokens) = (inputTokens(script), outputTokens(script))
        emit("response.completed", ["response": response(status: "completed", output: output, usage: [
            "input_tokens": input, "output_tokens": outputTokens, "total_tokens": input + outputTokens])])
        return frames
    }
}
