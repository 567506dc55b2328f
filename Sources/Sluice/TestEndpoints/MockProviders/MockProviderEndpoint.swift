import Foundation
import HTTPTypes
import SluiceAI
import SluiceCore

/// `POST /v1/chat/completions`, `POST /v1/responses`, `POST /v1/messages`: mock OpenAI and Anthropic
/// endpoints. They validate the request like the provider (bad JSON, missing `model`…), answer a
/// scripted or seed-generated reply streamed (`"stream": true`) or whole, paced and faulted as
/// ``MockProviderKnobs`` says. A request that offers `tools` gets a call of the first one; one that
/// asks for thinking/reasoning gets thinking.
struct MockProviderEndpoint: Sendable {
    let dialect: AIDialect
    /// The reply for every request; nil generates one from the seed.
    let script: AIScript?

    static let maxRequestBytes = 4 << 20

    func handle(_ request: Request, _ body: BodyWriter) async throws {
        let knobs = try MockProviderKnobs(request)
        if let kind = knobs.error {
            return try await send(MockProviderError(kind, dialect: dialect, retryAfter: knobs.retryAfter), body)
        }
        let raw = try await request.bodyStream.collect(
            upTo: Self.maxRequestBytes, tooLarge: HTTPError(.contentTooLarge, "request body too large"))
        let json: [String: Any]
        switch validate(raw) {
        case .success(let object): json = object
        case .failure(let error): return try await send(error, body)
        }
        let script = script ?? AIScript.generated(
            seed: knobs.seed, words: knobs.words, thinking: Self.asksForThinking(json, dialect), tool: Self.firstTool(json, dialect))
        var shape = AIMockShape(model: json["model"] as? String ?? "mock")
        shape.seed = knobs.seed
        shape.wordsPerFrame = knobs.wordsPerFrame
        shape.includeUsage = ((json["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false

        var fields: HTTPFields = [HTTPField.Name("x-request-id")!: "req_mock_\(knobs.seed)"]
        guard json["stream"] as? Bool == true else {
            fields[.contentType] = "application/json"
            try body.writeHead(HTTPResponse(status: .ok, headerFields: fields))
            try await body.write(AIMockFrames.completeBody(script, dialect: dialect, shape: shape))
            return
        }
        fields[.contentType] = "text/event-stream; charset=utf-8"
        fields[.cacheControl] = "no-cache"
        try body.writeHead(HTTPResponse(status: .ok, headerFields: fields))
        try await stream(AIMockFrames.stream(script, dialect: dialect, shape: shape), knobs: knobs, body)
    }

    /// Sends the frames with the pacing and faults asked for.
    private func stream(_ frames: [AIMockFrame], knobs: MockProviderKnobs, _ body: BodyWriter) async throws {
        if knobs.timeToFirstTokenMs > 0 { try await Task.sleep(for: .milliseconds(knobs.timeToFirstTokenMs)) }
        let interval = knobs.frameIntervalMs
        for (n, frame) in frames.enumerated() {
            if n == knobs.truncateAfter { return }
            if n == knobs.errorAfter {
                let type = MockProviderError.midStreamType(dialect)
                let error = AIMockFrames.midStreamError(dialect: dialect, type: type, message: "injected error after \(n) frames", sequence: n)
                return try await body.write(Self.encode(error))
            }
            if n > 0 && interval > 0 { try await Task.sleep(for: .microseconds(Int(interval * 1000))) }
            var frame = frame
            if n == knobs.corruptAt { frame.data = String(frame.data.prefix(frame.data.count / 2)) }
            let bytes = Self.encode(frame)
            try await body.write(bytes)
            if let every = knobs.duplicateEvery, (n + 1) % every == 0 { try await body.write(bytes) }
        }
    }

    private static func encode(_ frame: AIMockFrame) -> [UInt8] {
        // Frames are one-line JSON (or `[DONE]`) and event names are fixed tokens: encoding cannot fail.
        (try? SSEEncoder.encode(SSEEvent(data: frame.data, event: frame.event))) ?? []
    }

    private func send(_ error: MockProviderError, _ body: BodyWriter) async throws {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = error.retryAfter { fields[.retryAfter] = String(retryAfter) }
        try body.writeHead(HTTPResponse(status: error.status, headerFields: fields))
        try await body.write(error.body)
    }

    // MARK: The request

    private func validate(_ raw: [UInt8]) -> Result<[String: Any], MockProviderError> {
        guard let json = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any] else {
            return .failure(MockProviderError(invalidRequest: dialect == .anthropic
                ? "There was an error parsing the body of your request: not a JSON object"
                : "We could not parse the JSON body of your request.", dialect: dialect))
        }
        let required: [String] = switch dialect {
        case .openAIChat: ["model", "messages"]
        case .openAIResponses: ["model", "input"]
        case .anthropic: ["model", "max_tokens", "messages"]
        }
        for field in required where json[field] == nil || json[field] is NSNull {
            return .failure(MockProviderError(invalidRequest: dialect == .anthropic
                ? "\(field): Field required"
                : field == "model" ? "you must provide a model parameter" : "Missing required parameter: '\(field)'.", dialect: dialect))
        }
        guard json["model"] is String else {
            return .failure(MockProviderError(invalidRequest: "model: Input should be a valid string", dialect: dialect))
        }
        return .success(json)
    }

    private static func asksForThinking(_ json: [String: Any], _ dialect: AIDialect) -> Bool {
        switch dialect {
        case .anthropic: ((json["thinking"] as? [String: Any])?["type"] as? String) == "enabled"
        case .openAIChat: json["reasoning_effort"] is String
        case .openAIResponses: json["reasoning"] is [String: Any]
        }
    }

    private static func firstTool(_ json: [String: Any], _ dialect: AIDialect) -> String? {
        guard let first = (json["tools"] as? [[String: Any]])?.first else { return nil }
        if dialect == .openAIChat { return (first["function"] as? [String: Any])?["name"] as? String }
        return first["name"] as? String
    }
}

extension Router {
    /// Mock OpenAI (`/v1/chat/completions`, `/v1/responses`) and Anthropic (`/v1/messages`) endpoints;
    /// `script` is the reply to every request (nil: generated from the request's `seed`).
    ///
    /// ```swift
    /// var router = Router()
    /// router.addMockProviders(script: AIScript(text: "Hello!"))
    /// ```
    public mutating func addMockProviders(script: AIScript? = nil) {
        for (path, dialect) in [("/v1/chat/completions", AIDialect.openAIChat), ("/v1/responses", .openAIResponses),
                                ("/v1/messages", .anthropic)] {
            let endpoint = MockProviderEndpoint(dialect: dialect, script: script)
            stream(path, methods: [.post]) { request, body in try await endpoint.handle(request, body) }
        }
    }
}
