import HTTPTypes
import SluiceAI

/// A provider-shaped error answer: the status, body and headers OpenAI or Anthropic send, so a client's
/// error handling is tested against what it will meet.
struct MockProviderError: Error {
    enum Kind: String, CaseIterable {
        case rateLimit = "rate_limit", overloaded, auth, server
    }

    var status: HTTPResponse.Status
    var body: String
    var retryAfter: Int?

    init(_ kind: Kind, dialect: AIDialect, retryAfter: Int) {
        let anthropic = dialect == .anthropic
        switch kind {
        case .rateLimit:
            status = .tooManyRequests
            body = anthropic
                ? AIMockFrames.errorBody(dialect: dialect, type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit")
                : AIMockFrames.errorBody(dialect: dialect, type: "requests", message: "Rate limit reached for requests", code: "rate_limit_exceeded")
            self.retryAfter = retryAfter
        case .overloaded:
            // Anthropic's own 529; OpenAI says 503.
            status = anthropic ? HTTPResponse.Status(code: 529, reasonPhrase: "Overloaded") : .serviceUnavailable
            body = anthropic
                ? AIMockFrames.errorBody(dialect: dialect, type: "overloaded_error", message: "Overloaded")
                : AIMockFrames.errorBody(dialect: dialect, type: "server_error", message: "The server is overloaded or not ready yet.")
            self.retryAfter = retryAfter
        case .auth:
            status = .unauthorized
            body = anthropic
                ? AIMockFrames.errorBody(dialect: dialect, type: "authentication_error", message: "invalid x-api-key")
                : AIMockFrames.errorBody(dialect: dialect, type: "invalid_request_error", message: "Incorrect API key provided.", code: "invalid_api_key")
        case .server:
            status = .internalServerError
            body = anthropic
                ? AIMockFrames.errorBody(dialect: dialect, type: "api_error", message: "Internal server error")
                : AIMockFrames.errorBody(dialect: dialect, type: "server_error", message: "The server had an error while processing your request.")
        }
    }

    /// A 400 for a request the provider would refuse (bad JSON, missing field).
    init(invalidRequest message: String, dialect: AIDialect) {
        status = .badRequest
        body = AIMockFrames.errorBody(dialect: dialect, type: "invalid_request_error", message: message)
    }

    /// The type of the error frame sent in the middle of a stream (`error_after`).
    static func midStreamType(_ dialect: AIDialect) -> String {
        dialect == .anthropic ? "overloaded_error" : "server_error"
    }
}
