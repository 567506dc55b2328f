import HTTPTypes
import SluiceCore

/// A complete response for a plain or immediate route.
///
/// ```swift
/// router.get("/health") { _ in Response(text: "ok\n") }
/// ```
public struct Response: Sendable {
    public var head: HTTPResponse {
        didSet { encodedFields = nil }
    }
    public var body: [UInt8]
    /// A range of a file sent after `body` without being read into memory here (`sendfile` or one
    /// `pread` per HTTP/2 DATA frame); counted in the default Content-Length.
    public var file: FileRegion?
    /// The head's fields already laid out as bytes, when whoever made the response keeps them so
    /// (``EncodedFields``); dropped whenever `head` is set.
    var encodedFields: EncodedFields?

    /// The status code, not parsed again from the head's text when the response carries encoded
    /// fields: only a 200 head is made with them, and setting the head drops them.
    var statusCode: Int {
        guard encodedFields == nil else {
            assert(head.status.code == 200)
            return 200
        }
        return head.status.code
    }

    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: [UInt8] = []) {
        head = Self.head(status, headers)
        self.body = body
    }

    /// A 200 head shares one pseudo-header storage (HTTPResponse keeps its status in an object of its
    /// own, allocated anew by each `init`; one allocation of a small request's ~17): the fields are
    /// stored apart from it, so setting them copies nothing.
    private static let okHead = HTTPResponse(status: .ok)

    private static func head(_ status: HTTPResponse.Status, _ headers: HTTPFields) -> HTTPResponse {
        guard status == .ok else { return HTTPResponse(status: status, headerFields: headers) }
        var head = okHead
        head.headerFields = headers
        return head
    }

    /// A 200 whose fields `encoded` was made from, so that it is sent without reading them again.
    init(headers: HTTPFields, encoded: EncodedFields, body: [UInt8] = [], file: FileRegion? = nil) {
        head = Self.head(.ok, headers)
        self.body = body
        self.file = file
        encodedFields = encoded
    }

    /// A file (or a range of one) as the body.
    ///
    /// ```swift
    /// router.immediate([.get], "/video") { _ in
    ///     let fd = open("/srv/video.mp4", O_RDONLY | O_CLOEXEC)
    ///     guard fd >= 0 else { throw HTTPError(.notFound) }
    ///     var info = stat()
    ///     fstat(fd, &info)
    ///     return Response(headers: [.contentType: "video/mp4"], file: FileRegion(takingOwnershipOf: fd, count: Int(info.st_size)))
    /// }
    /// ```
    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], file: FileRegion) {
        head = Self.head(status, headers)
        body = []
        self.file = file
    }

    /// The body's length: the bytes and the file range.
    var bodyCount: Int { body.count + (file?.count ?? 0) }

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
