import Foundation
import SluiceCore

/// One SSE frame's JSON data, read loosely: providers add fields freely and omit empty ones, so every
/// accessor is optional and a wrong type reads as absent.
struct AIFrame {
    let object: [String: Any]

    /// Parses an event's data; nil when it is not a JSON object.
    init?(data: String) {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
        object = parsed
    }

    init(_ object: [String: Any]) { self.object = object }

    func string(_ key: String) -> String? { object[key] as? String }
    func int(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
    func frame(_ key: String) -> AIFrame? { (object[key] as? [String: Any]).map(AIFrame.init) }
    func frames(_ key: String) -> [AIFrame] { ((object[key] as? [Any]) ?? []).compactMap { ($0 as? [String: Any]).map(AIFrame.init) } }
    var type: String? { string("type") }

    static func invalid(_ data: String) -> AIStreamDelta {
        .error(AIStreamError(type: "invalid_json", message: "frame data is not a JSON object: \(data.prefix(80))"))
    }
}

/// What decoding one frame gave.
struct AIDecoded {
    var deltas: [AIStreamDelta] = []
    /// The frame's type is not one the dialect knows; it was ignored.
    var unknown = false
    /// The frame repeats one already seen (by sequence number) and was ignored.
    var duplicate = false

    static let unknownFrame = AIDecoded(unknown: true)
}

/// Turns one SSE frame of a provider's stream into deltas. Pure: no I/O, no accumulation.
protocol AIDialectDecoder {
    mutating func decode(_ event: SSEParsedEvent) -> AIDecoded
}

extension AIDialect {
    /// Which dialect a frame belongs to, when it tells (nil for e.g. a comment-like ping).
    static func detect(_ event: SSEParsedEvent) -> AIDialect? {
        if event.data == "[DONE]" { return .openAIChat }
        guard let frame = AIFrame(data: event.data) else { return nil }
        let type = frame.type ?? event.type
        if AnthropicDecoder.knownTypes.contains(type) || (type == "error" && frame.frame("error") != nil && frame.type != nil) {
            return .anthropic
        }
        if type.hasPrefix("response.") || (type == "error" && frame.object["sequence_number"] != nil) { return .openAIResponses }
        if frame.object["choices"] != nil || frame.string("object") == "chat.completion.chunk" || frame.frame("error") != nil {
            return .openAIChat
        }
        return nil
    }

    func makeDecoder() -> any AIDialectDecoder {
        switch self {
        case .openAIChat: OpenAIChatDecoder()
        case .openAIResponses: OpenAIResponsesDecoder()
        case .anthropic: AnthropicDecoder()
        }
    }
}
