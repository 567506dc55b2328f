import Foundation
import SluiceCore
import Testing
@testable import SluiceAI

/// Recorded streams in each dialect (Tests/Fixtures/AI, written from the providers' documented
/// formats), fed whole and split at every offset: the final state is the same and the expected one.
@Suite struct AccumulatorFixtureTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/AI")

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    @Test func openAIChatWithTextAndTwoToolCalls() throws {
        let state = AIStreamAccumulator.accumulate(try Self.fixture("openai-chat-tools.sse"))
        #expect(state.dialect == .openAIChat)
        #expect(state.id == "chatcmpl-A1")
        #expect(state.model == "gpt-4o-mini")
        #expect(state.text == "Checking the weather ☀️.")
        #expect(state.stopReason == "tool_calls")
        #expect(state.usage == AIUsage(inputTokens: 81, outputTokens: 47, totalTokens: 128))
        #expect(state.finished)
        #expect(state.errors.isEmpty)
        // The first chunk names index 0 twice: one call, not two.
        #expect(state.toolCalls.count == 2)
        #expect(state.toolCalls[0].id == "call_paris")
        #expect(state.toolCalls[0].name == "get_weather")
        #expect(state.toolCalls[0].parsedArguments == .object(["city": .string("Paris")]))
        #expect(state.toolCalls[1].id == "call_tokyo")
        #expect(state.toolCalls[1].parsedArguments == .object(["city": .string("Tōkyō"), "days": .number(3)]))
        #expect(state.toolCalls.allSatisfy { $0.complete })
    }

    @Test func openAIChatWithTwoChoicesCRLFAndComments() throws {
        let state = AIStreamAccumulator.accumulate(try Self.fixture("openai-chat-two-choices-crlf.sse"))
        #expect(state.choices.map(\.text) == ["First answer", "Second answer"])
        #expect(state.choices.map(\.stopReason) == ["stop", "length"])
        #expect(state.finished)
    }

    @Test func anthropicThinkingTextAndToolUse() throws {
        let state = AIStreamAccumulator.accumulate(try Self.fixture("anthropic-thinking-tool.sse"))
        #expect(state.dialect == .anthropic)
        #expect(state.id == "msg_01XFDUDYJgAACzvnptvVoYEL")
        #expect(state.thinking == "The user wants the weather, so I call the tool.")
        #expect(state.choices.first?.thinkingSignature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds")
        #expect(state.text == "Okay, let's check the weather for San Francisco, CA:")
        #expect(state.toolCalls.count == 1)
        #expect(state.toolCalls[0].index == 2)
        #expect(state.toolCalls[0].id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6")
        #expect(state.toolCalls[0].parsedArguments == .object(["location": .string("San Francisco, CA"), "unit": .string("fahrenheit")]))
        #expect(state.stopReason == "tool_use")
        #expect(state.usage == AIUsage(inputTokens: 472, outputTokens: 89))
        #expect(state.unknownEvents == 1)
        #expect(state.finished && state.errors.isEmpty)
    }

    @Test func anthropicErrorMidStream() throws {
        let state = AIStreamAccumulator.accumulate(try Self.fixture("anthropic-overloaded.sse"))
        #expect(state.text == "Partial")
        #expect(state.errors.map(\.type) == ["overloaded_error", "incomplete_stream"])
        #expect(state.errors.first?.message == "Overloaded")
        #expect(!state.finished)
    }

    @Test func openAIResponsesWithFunctionCallAndADuplicateFrame() throws {
        let state = AIStreamAccumulator.accumulate(try Self.fixture("openai-responses-function.sse"))
        #expect(state.dialect == .openAIResponses)
        #expect(state.id == "resp_67ccd2bed1ec8190")
        #expect(state.text == "Hi there")  // the repeated sequence number 5 is dropped
        #expect(state.duplicateEvents == 1)
        #expect(state.toolCalls.count == 1)
        #expect(state.toolCalls[0].id == "call_abc")
        #expect(state.toolCalls[0].index == 1)
        #expect(state.toolCalls[0].parsedArguments == .object(["location": .string("Paris, France")]))
        #expect(state.usage == AIUsage(inputTokens: 37, outputTokens: 11, totalTokens: 48))
        #expect(state.stopReason == "completed")
        #expect(state.finished && state.errors.isEmpty)
    }

    @Test(arguments: ["openai-chat-tools.sse", "openai-chat-two-choices-crlf.sse", "anthropic-thinking-tool.sse",
                      "anthropic-overloaded.sse", "openai-responses-function.sse"])
    func everySplitGivesTheSameState(_ name: String) throws {
        let bytes = try Self.fixture(name)
        let whole = AIStreamAccumulator.accumulate(bytes)
        for cut in 0...bytes.count {
            let accumulator = AIStreamAccumulator()
            accumulator.feed(bytes[..<cut])
            accumulator.feed(bytes[cut...])
            accumulator.finish()
            #expect(accumulator.state == whole, "split at \(cut)")
            if accumulator.state != whole { return }
        }
        // And in small random pieces, as a slow network delivers them.
        var random = SplitMix64(seed: 7)
        let accumulator = AIStreamAccumulator()
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 + Int(random.next() % 7))
            accumulator.feed(bytes[offset..<(offset + n)])
            offset += n
        }
        accumulator.finish()
        #expect(accumulator.state == whole)
    }
}
