import HTTPTypes

/// A complete response for a plain route.
///
/// ```swift
/// router.get("/health") { _ in Response(text: "ok\n") }
/// ```
public struct Response: Sendable {
    public var head: HTTPResponse
    public var body: [UInt8]

    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: [UInt8] = []) {
        head = HTTPResponse(status: status, headerFields: headers)
        self.body = body
    }

    /// A UTF-8 text body with `Content-Type: text/plain; charset=utf-8` unless `contentType` says otherwise.
    public init(status: HTTPResponse.Status = .ok, text: String, contentType: String = "text/plain; charset=utf-8") {
        self.init(status: status, headers: [.contentType: contentType], body: Array(text.utf8))
    }
}

/// An error a handler throws to answer with a status; the message becomes a text body.
///
/// ```swift
/// guard let n = Int(request.query["count"] ?? "") else { throw HTTPError(.badRequest, "count must be an integer") }
/// ```
public struct HTTPError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String = "", headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    var response: Response {
        var response = Response(status: status, text: (message.isEmpty ? status.reasonPhrase : message) + "\n")
        for field in headers { response.head.headerFields.append(field) }
        return response
    }
}
