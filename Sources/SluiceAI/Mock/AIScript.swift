import Foundation
import SluiceCore

/// What a mock provider answers: text, optional thinking, tool calls. From a JSON file
/// (`sluice serve --ai-script`) or generated deterministically from a seed.
///
/// ```json
/// {"text": "Hello!", "thinking": "The user greets me.",
///  "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
/// ```
public struct AIScript: Sendable, Equatable, Codable {
    public var text: String
    public var thinking: String?
    public var toolCalls: [ToolCall]
    /// Overrides the stop reason the dialect would give (`stop`/`end_turn`, or the tool-call one).
    public var stopReason: String?
    public var inputTokens: Int?

    public struct ToolCall: Sendable, Equatable, Codable {
        public var name: String
        /// The arguments object, sent as JSON text in pieces.
        public var arguments: JSONValue

        public init(name: String, arguments: JSONValue) {
            self.name = name
            self.arguments = arguments
        }
    }

    public init(text: String, thinking: String? = nil, toolCalls: [ToolCall] = [], stopReason: String? = nil, inputTokens: Int? = nil) {
        self.text = text
        self.thinking = thinking
        self.toolCalls = toolCalls
        self.stopReason = stopReason
        self.inputTokens = inputTokens
    }

    enum CodingKeys: String, CodingKey {
        case text, thinking, toolCalls = "tool_calls", stopReason = "stop_reason", inputTokens = "input_tokens"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        text = try c.decodeIfPresent(String.self, forKey: .text) ?? ""
        thinking = try c.decodeIfPresent(String.self, forKey: .thinking)
        toolCalls = try c.decodeIfPresent([ToolCall].self, forKey: .toolCalls) ?? []
        stopReason = try c.decodeIfPresent(String.self, forKey: .stopReason)
        inputTokens = try c.decodeIfPresent(Int.self, forKey: .inputTokens)
    }

    /// Reads a script file.
    public init(contentsOf path: String) throws {
        self = try JSONDecoder().decode(AIScript.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A deterministic answer: `words` words chosen by `seed`; thinking and a call of `tool` when asked.
    public static func generated(seed: UInt64, words: Int, thinking: Bool = false, tool: String? = nil) -> AIScript {
        var random = SplitMix64(seed: seed)
        func sentence(_ count: Int) -> String {
            (0..<count).map { _ in vocabulary[Int(random.next() % UInt64(vocabulary.count))] }.joined(separator: " ")
        }
        let said = sentence(words)
        let text = words > 0 ? said.prefix(1).uppercased() + said.dropFirst() + "." : ""
        let thought = thinking ? "Let me think about " + sentence(max(4, words / 2)) + "." : nil
        let calls = tool.map { [ToolCall(name: $0, arguments: .object(["query": .string(sentence(3)), "limit": .number(Double(1 + random.next() % 9))]))] } ?? []
        return AIScript(text: text, thinking: thought, toolCalls: calls)
    }

    private static let vocabulary = [
        "stream", "event", "token", "river", "sluice", "gate", "water", "flow", "byte", "frame", "window", "quiet",
        "steady", "bright", "signal", "channel", "buffer", "reader", "writer", "model", "answer", "question", "small",
        "large", "early", "late", "simple", "careful", "open", "closed",
    ]
}

extension String {
    /// Model-like tokens: words keep their leading space ("Hello", " world", "."), grouped `perToken`
    /// words a piece; the pieces join back to the text exactly.
    func tokenPieces(wordsPerPiece: Int) -> [String] {
        var words: [String] = []
        var current = ""
        for character in self {
            if character == " " && !current.isEmpty && current != " " {
                words.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        let size = Swift.max(1, wordsPerPiece)
        return stride(from: 0, to: words.count, by: size).map { words[$0..<Swift.min($0 + size, words.count)].joined() }
    }

    /// Fixed-size pieces (for JSON arguments, split mid-token as providers do).
    func pieces(of size: Int) -> [String] {
        var out: [String] = []
        var index = startIndex
        while index < endIndex {
            let end = self.index(index, offsetBy: Swift.max(1, size), limitedBy: endIndex) ?? endIndex
            out.append(String(self[index..<end]))
            index = end
        }
        return out
    }
}
