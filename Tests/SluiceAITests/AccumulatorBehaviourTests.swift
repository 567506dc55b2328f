import Foundation
import SluiceCore
import Testing
@testable import SluiceAI

/// Callbacks, the delta sequence, reset, and the robustness cases real streams show.
@Suite struct AccumulatorBehaviourTests {
    static func sse(_ frames: [String]) -> [UInt8] { Array(frames.map { "data: \($0)\n\n" }.joined().utf8) }

    @Test func callbacksFireInOrderAndEndOnce() throws {
        let bytes = try AccumulatorFixtureTests.fixture("anthropic-thinking-tool.sse")
        let accumulator = AIStreamAccumulator()
        var log: [String] = []
        accumulator.onText = { log.append("text:\($0)") }
        accumulator.onThinking = { log.append("thinking:\($0)") }
        accumulator.onToolUseStart = { log.append("start:\($0.name ?? "")") }
        accumulator.onToolUseDelta = { call, piece in log.append("delta:\(piece)|\(call.arguments)") }
        accumulator.onStreamEnd = { log.append("end:\($0.stopReason ?? "")") }
        accumulator.onError = { log.append("error:\($0.type)") }
        accumulator.feed(bytes)
        accumulator.finish()
        #expect(log.first == "thinking:The user wants the weather, ")
        #expect(log.contains("text:Okay, let's check "))
        #expect(log.contains("start:get_weather"))
        #expect(log.contains("delta:{\"location\":|{\"location\":"))
        #expect(log.last == "end:tool_use")
        #expect(log.filter { $0.hasPrefix("end:") }.count == 1)
        #expect(!log.contains { $0.hasPrefix("error:") })
    }

    @Test func deltasAsAnAsyncSequence() async throws {
        let accumulator = AIStreamAccumulator()
        let deltas = accumulator.deltas
        accumulator.feed(try AccumulatorFixtureTests.fixture("openai-chat-tools.sse"))
        var texts: [String] = []
        var ended = false
        for await delta in deltas {
            if case .text(let t, _) = delta { texts.append(t) }
            if case .end = delta { ended = true }
        }
        #expect(texts == ["Checking ", "the weather ☀️."])
        #expect(ended)
    }

    @Test func resetStartsAfresh() throws {
        let accumulator = AIStreamAccumulator()
        accumulator.feed(try AccumulatorFixtureTests.fixture("anthropic-thinking-tool.sse"))
        accumulator.finish()
        accumulator.reset()
        #expect(accumulator.state == AIStreamState())
        accumulator.feed(try AccumulatorFixtureTests.fixture("openai-chat-tools.sse"))
        accumulator.finish()
        #expect(accumulator.state.dialect == .openAIChat)
        #expect(accumulator.state.text == "Checking the weather ☀️.")
    }

    @Test func truncatedStreamIsAnErrorAndOpenToolCallsAreParsed() {
        let state = AIStreamAccumulator.accumulate(Self.sse([
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
        ]))
        #expect(state.errors.map(\.type) == ["incomplete_stream", "invalid_tool_arguments"])
        #expect(state.toolCalls.first?.argumentsError != nil)
        #expect(state.toolCalls.first?.complete == true)
    }

    @Test func invalidFinalArgumentsAreAClearError() {
        let state = AIStreamAccumulator.accumulate(Self.sse([
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"lookup","arguments":"{\"a\": tru"}}]}}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]))
        #expect(state.finished)
        #expect(state.errors.count == 1)
        #expect(state.error?.type == "invalid_tool_arguments")
        #expect(state.error?.message.hasPrefix("tool call lookup: invalid JSON") == true)
        #expect(state.toolCalls.first?.parsedArguments == nil)
    }

    @Test func emptyArgumentsParseAsAnEmptyObject() {
        let state = AIStreamAccumulator.accumulate(Array("""
            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"now","input":{}}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":0}

            event: message_stop
            data: {"type":"message_stop"}


            """.utf8))
        #expect(state.toolCalls.first?.parsedArguments == .object([:]))
        #expect(state.errors.isEmpty)
    }

    @Test func corruptFramesAndUnknownEventsDoNotStopTheStream() {
        let state = AIStreamAccumulator.accumulate(Self.sse([
            #"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"content":"#,
            #"{"something":"else"}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]))
        #expect(state.text == "ab")
        #expect(state.errors.map(\.type) == ["invalid_json"])
        #expect(state.unknownEvents == 1)
        #expect(state.finished)
    }

    @Test func openAIMidStreamErrorFrame() {
        let state = AIStreamAccumulator.accumulate(Self.sse([
            #"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            #"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#,
        ]))
        #expect(state.errors.map(\.type) == ["server_error", "incomplete_stream"])
    }

    @Test func aFixedDialectIgnoresOthers() {
        let accumulator = AIStreamAccumulator(dialects: [.anthropic])
        accumulator.feed(Self.sse([#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}"#]))
        #expect(accumulator.state.text == "")
        #expect(accumulator.state.unknownEvents == 1)
    }

    @Test func parsedEventsFromATransportWork() {
        let accumulator = AIStreamAccumulator()
        accumulator.feed(event: SSEParsedEvent(data: #"{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}"#))
        accumulator.feed(event: SSEParsedEvent(data: "[DONE]"))
        #expect(accumulator.state.text == "hi")
        #expect(accumulator.state.finished)
    }
}
