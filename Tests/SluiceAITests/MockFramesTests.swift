import Foundation
import Testing
@testable import SluiceAI

/// The mock providers' frames read back by the accumulator give the script, in every dialect.
@Suite struct MockFramesTests {
    static let script = AIScript(
        text: "Hello there, streaming world.", thinking: "A short thought.",
        toolCalls: [AIScript.ToolCall(name: "search", arguments: .object(["q": .string("sluice \"gates\""), "n": .number(3)]))])

    @Test(arguments: AIDialect.allCases)
    func framesRoundTripThroughTheAccumulator(_ dialect: AIDialect) {
        var shape = AIMockShape(model: "mock-1")
        shape.wordsPerFrame = 2
        shape.argumentBytesPerFrame = 5
        let frames = AIMockFrames.stream(Self.script, dialect: dialect, shape: shape)
        let bytes = frames.map { ($0.event.map { "event: \($0)\n" } ?? "") + "data: \($0.data)\n\n" }.joined()
        let state = AIStreamAccumulator.accumulate(Array(bytes.utf8))
        #expect(state.dialect == dialect)
        #expect(state.model == "mock-1")
        #expect(state.text == Self.script.text)
        #expect(state.thinking == Self.script.thinking)
        #expect(state.toolCalls.count == 1)
        #expect(state.toolCalls.first?.name == "search")
        #expect(state.toolCalls.first?.parsedArguments == Self.script.toolCalls[0].arguments)
        #expect(state.finished && state.errors.isEmpty)
        #expect(state.usage.outputTokens == AIMockFrames.outputTokens(Self.script))
    }

    @Test func generatedScriptsAreDeterministic() {
        let a = AIScript.generated(seed: 42, words: 10, thinking: true, tool: "lookup")
        #expect(a == AIScript.generated(seed: 42, words: 10, thinking: true, tool: "lookup"))
        #expect(a != AIScript.generated(seed: 43, words: 10, thinking: true, tool: "lookup"))
        #expect(a.text.split(separator: " ").count == 10)
        #expect(a.text.first?.isUppercase == true)
        #expect(a.toolCalls.first?.name == "lookup")
    }

    @Test func tokenPiecesJoinBackExactly() {
        let text = "  Hello,  world of streams ."
        for n in 1...4 { #expect(text.tokenPieces(wordsPerPiece: n).joined() == text) }
        #expect("abcdefg".pieces(of: 3) == ["abc", "def", "g"])
    }

    @Test(arguments: AIDialect.allCases)
    func completeBodiesCarryTheScript(_ dialect: AIDialect) throws {
        let body = AIMockFrames.completeBody(Self.script, dialect: dialect, shape: AIMockShape(model: "m"))
        let object = try JSONValue(parsing: body)
        switch dialect {
        case .openAIChat:
            #expect(object["choices"]?[0]?["message"]?["content"]?.string == Self.script.text)
            #expect(object["choices"]?[0]?["finish_reason"]?.string == "tool_calls")
        case .anthropic:
            #expect(object["content"]?[1]?["text"]?.string == Self.script.text)
            #expect(object["content"]?[2]?["input"] == Self.script.toolCalls[0].arguments)
        case .openAIResponses:
            #expect(object["status"]?.string == "completed")
            #expect(object["output"]?.array?.count == 3)
        }
    }
}
