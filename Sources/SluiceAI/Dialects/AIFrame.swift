import CCJSON
import SluiceCore

/// One SSE frame's JSON data, read loosely: providers add fields freely and omit empty ones, so every
/// accessor is optional and a wrong type reads as absent.
///
/// Parsed with cJSON (Debian's libcjson): a frame is parsed once and read a few fields deep, and
/// Foundation's JSONSerialization spent ~12 µs a frame building dictionaries no one reads. A JSON
/// string containing `\u0000` reads up to the NUL (cJSON keeps C strings); no provider sends one.
struct AIFrame {
    /// Owns the parsed tree; every frame read from it keeps it alive.
    private final class Tree {
        let root: UnsafeMutablePointer<cJSON>
        init(_ root: UnsafeMutablePointer<cJSON>) { self.root = root }
        deinit { cJSON_Delete(root) }
    }

    private let tree: Tree
    private let node: UnsafeMutablePointer<cJSON>

    /// Parses an event's data; nil when it is not a JSON object.
    init?(data: String) {
        var data = data
        let parsed = data.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { cJSON_ParseWithLength($0.baseAddress, $0.count) }
        }
        guard let parsed else { return nil }
        tree = Tree(parsed)
        guard cJSON_IsObject(parsed) != 0 else { return nil }
        node = parsed
    }

    private init(tree: Tree, node: UnsafeMutablePointer<cJSON>) {
        self.tree = tree
        self.node = node
    }

    private func item(_ key: String) -> UnsafeMutablePointer<cJSON>? { cJSON_GetObjectItemCaseSensitive(node, key) }

    func has(_ key: String) -> Bool {
        guard let found = item(key) else { return false }
        return cJSON_IsNull(found) == 0
    }

    func string(_ key: String) -> String? {
        guard let found = item(key), cJSON_IsString(found) != 0, let text = found.pointee.valuestring else { return nil }
        return String(cString: text)
    }

    func int(_ key: String) -> Int? {
        guard let found = item(key), cJSON_IsNumber(found) != 0 else { return nil }
        let value = found.pointee.valuedouble
        return value.isFinite && abs(value) < 9e15 ? Int(value) : nil
    }

    func frame(_ key: String) -> AIFrame? {
        guard let found = item(key), cJSON_IsObject(found) != 0 else { return nil }
        return AIFrame(tree: tree, node: found)
    }

    func frames(_ key: String) -> [AIFrame] {
        guard let found = item(key), cJSON_IsArray(found) != 0 else { return [] }
        var out: [AIFrame] = []
        var child = found.pointee.child
        while let current = child {
            if cJSON_IsObject(current) != 0 { out.append(AIFrame(tree: tree, node: current)) }
            child = current.pointee.next
        }
        return out
    }

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
        if type.hasPrefix("response.") || (type == "error" && frame.has("sequence_number")) { return .openAIResponses }
        if frame.has("choices") || frame.string("object") == "chat.completion.chunk" || frame.frame("error") != nil {
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
