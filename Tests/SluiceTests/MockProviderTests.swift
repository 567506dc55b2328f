import Foundation
import SluiceAI
import SluiceClient
import SluiceCore
import Testing
@testable import Sluice

/// The mock LLM endpoints streaming to the accumulator over loopback: HTTP/1.1 through our SSE
/// transport, HTTP/2 through curl; every fault gives its documented error and no crash.
@Suite struct MockProviderTests {
    static let script = AIScript(
        text: "The gates open at dawn, and the river runs.", thinking: "They ask about the gates.",
        toolCalls: [AIScript.ToolCall(name: "schedule", arguments: .object(["gate": .string("north"), "hour": .number(6)]))])

    static let paths: [AIDialect: String] = [.openAIChat: "/v1/chat/completions", .openAIResponses: "/v1/responses", .anthropic: "/v1/messages"]

    static func requestBody(_ dialect: AIDialect, stream: Bool = true) -> String {
        switch dialect {
        case .openAIChat: #"{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}],"stream":\#(stream),"stream_options":{"include_usage":true}}"#
        case .openAIResponses: #"{"model":"gpt-mock","input":"hi","stream":\#(stream)}"#
        case .anthropic: #"{"model":"claude-mock","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"stream":\#(stream)}"#
        }
    }

    static func withMock<T>(_ body: (TestServer) async throws -> T) async throws -> T {
        try await withServer(configure: { $0.faultInjection = true }, routes: { $0.addMockProviders(script: script) }, body)
    }

    /// Streams one request through SSETransport (HTTP/1.1) into an accumulator.
    static func accumulateOverH1(_ url: String, dialect: AIDialect, headers: [(name: String, value: String)] = []) async throws
        -> (AIStreamState, [TransportError])
    {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        var configuration = SSETransportConfiguration()
        configuration.method = "POST"
        configuration.body = Array(requestBody(dialect).utf8)
        configuration.headers = headers
        configuration.reconnect.reconnect = false
        let transport = try SSETransport(url: url, configuration: configuration, loop: loop)
        let accumulator = AIStreamAccumulator()
        var errors: [TransportError] = []
        transport.connect()
        for await event in transport.events {
            switch event {
            case .event(let e): accumulator.feed(event: e)
            case .error(let error): errors.append(error)
            default: break
            }
        }
        accumulator.finish()
        return (accumulator.state, errors)
    }

    static func post(_ url: String, _ body: String, _ extra: [String] = []) async throws -> (stdout: [UInt8], stderr: String, status: Int32) {
        try await curl(["-N", "-X", "POST", "-H", "content-type: application/json", "--data-binary", body] + extra + [url])
    }

    static func expectScript(_ state: AIStreamState, _ dialect: AIDialect) {
        #expect(state.dialect == dialect)
        #expect(state.text == script.text)
        #expect(state.thinking == script.thinking)
        #expect(state.toolCalls.count == 1)
        #expect(state.toolCalls.first?.name == "schedule")
        #expect(state.toolCalls.first?.parsedArguments == script.toolCalls[0].arguments)
        #expect(state.usage.outputTokens != nil)
        #expect(state.finished)
        #expect(state.errors.isEmpty, "\(state.errors)")
    }

    @Test(arguments: AIDialect.allCases)
    func streamsTheScriptOverHTTP1(_ dialect: AIDialect) async throws {
        try await Self.withMock { server in
            let (state, errors) = try await Self.accumulateOverH1(server.base + Self.paths[dialect]! + "?chunk_words=2", dialect: dialect)
            Self.expectScript(state, dialect)
            #expect(errors.allSatisfy { $0.statusCode == nil })  // only the end of the response, no HTTP error
        }
    }

    @Test(arguments: AIDialect.allCases)
    func streamsTheScriptOverHTTP2(_ dialect: AIDialect) async throws {
        try await Self.withMock { server in
            let result = try await Self.post(server.base + Self.paths[dialect]!, Self.requestBody(dialect), ["--http2-prior-knowledge"])
            #expect(result.status == 0, "\(result.stderr)")
            Self.expectScript(AIStreamAccumulator.accumulate(result.stdout), dialect)
            // drop_after on h2 resets the stream: curl sees it fail, the accumulator an incomplete stream.
            let dropped = try await Self.post(server.base + Self.paths[dialect]! + "?drop_after=4", Self.requestBody(dialect), ["--http2-prior-knowledge"])
            #expect(dropped.status != 0)
            #expect(AIStreamAccumulator.accumulate(dropped.stdout).errors.map(\.type) == ["incomplete_stream"])
        }
    }

    @Test(arguments: AIDialect.allCases)
    func answersWholeWithoutStream(_ dialect: AIDialect) async throws {
        try await Self.withMock { server in
            let result = try await Self.post(server.base + Self.paths[dialect]!, Self.requestBody(dialect, stream: false))
            let object = try JSONValue(parsing: String(decoding: result.stdout, as: UTF8.self))
            let text: String? = switch dialect {
            case .openAIChat: object["choices"]?[0]?["message"]?["content"]?.string
            case .anthropic: object["content"]?[1]?["text"]?.string
            case .openAIResponses: object["output"]?[1]?["content"]?[0]?["text"]?.string
            }
            #expect(text == Self.script.text)
        }
    }

    @Test func faultsGiveTheirDocumentedErrors() async throws {
        try await Self.withMock { server in
            let chat = server.base + "/v1/chat/completions"
            // truncate_after: a clean end without [DONE] → incomplete_stream.
            var (state, _) = try await Self.accumulateOverH1(chat + "?truncate_after=4", dialect: .openAIChat)
            #expect(state.errors.map(\.type) == ["incomplete_stream"])
            #expect(!state.finished)
            // drop_after: the connection is cut → the transport says so, the stream is incomplete.
            var errors: [TransportError]
            (state, errors) = try await Self.accumulateOverH1(chat + "?drop_after=3", dialect: .openAIChat)
            #expect(state.errors.map(\.type) == ["incomplete_stream"])
            #expect(errors.contains { $0.message.contains("closed mid-response") }, "\(errors)")
            // error_after: a provider-shaped error frame mid-stream.
            (state, _) = try await Self.accumulateOverH1(server.base + "/v1/messages?error_after=5", dialect: .anthropic)
            #expect(state.errors.first?.type == "overloaded_error")
            (state, _) = try await Self.accumulateOverH1(server.base + "/v1/responses?error_after=5", dialect: .openAIResponses)
            #expect(state.errors.first?.type == "server_error")
            // corrupt_at: invalid JSON in one frame, the rest still accumulates.
            (state, _) = try await Self.accumulateOverH1(chat + "?corrupt_at=3", dialect: .openAIChat)
            #expect(state.errors.map(\.type) == ["invalid_json"])
            #expect(state.finished)
            // duplicate_every: the Responses API's sequence numbers let duplicates be dropped…
            (state, _) = try await Self.accumulateOverH1(server.base + "/v1/responses?duplicate_every=2", dialect: .openAIResponses)
            #expect(state.text == Self.script.text)
            #expect(state.duplicateEvents > 5)
            // …Chat Completions frames carry none: the text comes out doubled where frames were.
            (state, _) = try await Self.accumulateOverH1(chat + "?duplicate_every=1", dialect: .openAIChat)
            #expect(state.text.count == 2 * Self.script.text.count)
        }
    }

    @Test func providerShapedErrorResponses() async throws {
        try await Self.withMock { server in
            func answer(_ path: String, _ body: String, _ extra: [String] = []) async throws -> (code: String, headers: String, body: JSONValue?) {
                let result = try await Self.post(server.base + path, body, ["-D", "-", "-w", "\n%{http_code}"] + extra)
                let text = String(decoding: result.stdout, as: UTF8.self)
                let parts = text.components(separatedBy: "\r\n\r\n")
                let rest = parts.dropFirst().joined(separator: "\r\n\r\n")
                let lines = rest.split(separator: "\n")
                return (String(lines.last ?? ""), parts[0], lines.count > 1 ? try? JSONValue(parsing: String(lines[0])) : nil)
            }
            let anthropic = Self.requestBody(.anthropic)
            var (code, headers, body) = try await answer("/v1/messages?error=overloaded&retry_after=7", anthropic)
            #expect(code == "529")
            #expect(headers.lowercased().contains("retry-after: 7"))
            #expect(body?["error"]?["type"]?.string == "overloaded_error")
            (code, headers, body) = try await answer("/v1/chat/completions", Self.requestBody(.openAIChat), ["-H", "X-Sluice-Fault-Error: rate_limit"])
            #expect(code == "429")
            #expect(body?["error"]?["code"]?.string == "rate_limit_exceeded")
            (code, _, body) = try await answer("/v1/messages?error=auth", anthropic)
            #expect(code == "401")
            #expect(body?["error"]?["type"]?.string == "authentication_error")
            (code, _, _) = try await answer("/v1/messages?auth=sekrit", anthropic)
            #expect(code == "401")
            (code, _, _) = try await answer("/v1/messages?auth=sekrit", anthropic, ["-H", "x-api-key: sekrit"])
            #expect(code == "200")
            (code, _, body) = try await answer("/v1/chat/completions", "{not json")
            #expect(code == "400")
            #expect(body?["error"]?["type"]?.string == "invalid_request_error")
            (code, _, body) = try await answer("/v1/messages", #"{"model":"c","messages":[]}"#)
            #expect(code == "400")
            #expect(body?["error"]?["message"]?.string == "max_tokens: Field required")
            (code, _, body) = try await answer("/v1/responses", #"{"input":"x"}"#)
            #expect(body?["error"]?["message"]?.string == "you must provide a model parameter")
            (code, _, _) = try await answer("/v1/chat/completions?tps=abc", Self.requestBody(.openAIChat))
            #expect(code == "400")
        }
    }

    @Test func generatedRepliesFollowTheRequestAndArePaced() async throws {
        try await withServer(routes: { $0.addMockProviders() }) { server in
            let body = #"{"model":"m","max_tokens":50,"messages":[],"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"lookup","input_schema":{}}]}"#
            let started = ContinuousClock.now
            let result = try await Self.post(server.base + "/v1/messages?seed=3&words=10&ttft_ms=100&tps=200", body)
            let elapsed = ContinuousClock.now - started
            let state = AIStreamAccumulator.accumulate(result.stdout)
            let expected = AIScript.generated(seed: 3, words: 10, thinking: true, tool: "lookup")
            #expect(state.text == expected.text)
            #expect(state.thinking == expected.thinking)
            #expect(state.toolCalls.first?.name == "lookup")
            #expect(state.finished)
            // 100 ms to the first token plus ~25 paced frames at 5 ms: a lower bound only (no upper
            // bound in a test on a shared machine).
            #expect(elapsed >= .milliseconds(200))

            // The same knobs as X-Sluice-* headers (for clients that cannot change the URL); a query wins.
            let byHeader = try await Self.post(server.base + "/v1/messages", body, ["-H", "X-Sluice-Seed: 3", "-H", "X-Sluice-Words: 10"])
            #expect(AIStreamAccumulator.accumulate(byHeader.stdout).text == expected.text)
            let queryWins = try await Self.post(server.base + "/v1/messages?words=4", body, ["-H", "X-Sluice-Seed: 3", "-H", "X-Sluice-Words: 10"])
            #expect(AIStreamAccumulator.accumulate(queryWins.stdout).text == AIScript.generated(seed: 3, words: 4, thinking: true, tool: "lookup").text)
        }
    }
}
