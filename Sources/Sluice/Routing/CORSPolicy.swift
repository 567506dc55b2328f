import HTTPTypes

/// Cross-origin resource sharing for browser clients on other origins.
///
/// ```swift
/// config.cors = .anyOrigin                              // Access-Control-Allow-Origin: *
/// config.cors = CORSPolicy(origin: "https://app.example") // one origin, with Vary: Origin
/// ```
public struct CORSPolicy: Sendable, Equatable {
    /// `*` or one exact origin.
    public var origin: String
    /// How long a browser may cache a preflight answer, in seconds. Default 600.
    public var maxAge: Int

    public init(origin: String, maxAge: Int = 600) {
        self.origin = origin
        self.maxAge = maxAge
    }

    public static let anyOrigin = CORSPolicy(origin: "*")

    /// Headers every response carries under this policy.
    func apply(to fields: inout HTTPFields) {
        fields[.accessControlAllowOrigin] = origin
        // Lets scripts read the SSE resume id and fault-injection answers.
        fields[.accessControlExposeHeaders] = "*"
        if origin != "*" { fields.append(HTTPField(name: .vary, value: "Origin")) }
    }

    /// The answer to a preflight `OPTIONS` request.
    func preflight(request: HTTPRequest, allow: [HTTPRequest.Method]) -> HTTPResponse {
        var fields = HTTPFields()
        apply(to: &fields)
        fields[.accessControlAllowMethods] = allow.map(\.rawValue).joined(separator: ", ")
        fields[.accessControlAllowHeaders] = request.headerFields[.accessControlRequestHeaders] ?? "*"
        fields[.accessControlMaxAge] = String(maxAge)
        return HTTPResponse(status: .noContent, headerFields: fields)
    }
}
