import HTTPTypes
import SluiceAI
#if canImport(Glibc)
import Glibc
#endif

/// Serves files from one folder, never a file outside it.
///
/// The path is percent-decoded once; `.` and `..` segments, NUL and backslashes are refused with 400
/// (so `%2e%2e` cannot climb out either), and the resolved real path must still lie inside the
/// folder (a symbolic link pointing outside gives 404). A folder serves its `index.html`.
///
/// ```swift
/// router.staticFiles(from: "public")     // GET /app.js → public/app.js
/// ```
struct StaticFiles: Sendable {
    let root: String

    /// `nil` when `directory` does not exist.
    init?(directory: String) {
        guard let real = StaticFiles.realPath(directory) else { return nil }
        root = real
    }

    func handle(_ request: Request, _ body: BodyWriter) async throws {
        let path = try resolve(request.path)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError(.notFound, "not found") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw HTTPError(.notFound, "not found") }
        try body.writeHead(HTTPResponse(status: .ok, headerFields: [
            .contentType: Self.contentType(for: path),
            .contentLength: String(info.st_size),
        ]))
        var remaining = Int(info.st_size)
        while remaining > 0 {
            // Each chunk is read straight into the array the writer keeps: no zero fill, no copy.
            var failed = false
            let chunk = [UInt8](unsafeUninitializedCapacity: min(64 * 1024, remaining)) { buffer, count in
                let n = read(fd, buffer.baseAddress, buffer.count)
                failed = n <= 0
                count = max(n, 0)
            }
            if failed { throw HTTPError(.internalServerError, "read failed") }
            try await body.write(chunk)
            remaining -= chunk.count
        }
    }

    /// The real path of the file for a URL path, or an HTTPError.
    func resolve(_ urlPath: Substring) throws -> String {
        guard let decoded = PercentDecoding.decodeBytes(urlPath) else { throw HTTPError(.badRequest, "malformed percent-encoding") }
        guard !decoded.contains(0), !decoded.contains(UInt8(ascii: "\\")),
              let text = String(validating: decoded, as: UTF8.self)
        else { throw HTTPError(.badRequest, "invalid path") }
        let segments = text.split(separator: "/", omittingEmptySubsequences: true)
        if segments.contains(where: { $0 == ".." || $0 == "." }) { throw HTTPError(.badRequest, "path traversal refused") }
        var candidate = ([root] + segments.map(String.init)).joined(separator: "/")
        if Self.isDirectory(candidate) { candidate += "/index.html" }
        guard let real = Self.realPath(candidate), real == root || real.hasPrefix(root + "/") else {
            throw HTTPError(.notFound, "not found")
        }
        return real
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(validatingCString: resolved)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func contentType(for path: String) -> String {
        // Only the text after the last dot of the last segment (splitting the whole path cost 3% a request).
        let name = path[(path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex)...]
        let ext = name.lastIndex(of: ".").map { name[name.index(after: $0)...].lowercased() } ?? ""
        return switch ext {
        case "html", "htm": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json": "application/json"
        case "txt", "md": "text/plain; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "gif": "image/gif"
        case "ico": "image/x-icon"
        case "wasm": "application/wasm"
        case "xml": "application/xml"
        default: "application/octet-stream"
        }
    }
}

extension Router {
    /// Serves the files under `directory` for any GET or HEAD no earlier route matched.
    /// Returns false when the folder does not exist.
    @discardableResult
    public mutating func staticFiles(from directory: String) -> Bool {
        guard let files = StaticFiles(directory: directory) else { return false }
        stream("/*", methods: [.get]) { request, body in try await files.handle(request, body) }
        return true
    }

    /// The `sluice serve` test endpoints: `/health`, `/sse`, `/stream`, `/ndjson`, `/ws/echo`,
    /// `/ws/ticker`, `/ws/broadcast`, the channels of `channels` (``addChannels(_:)``) and the mock LLM
    /// providers (``addMockProviders(script:)``).
    public mutating func addTestEndpoints(aiScript: AIScript? = nil, channels: ChannelRegistry = ChannelRegistry()) {
        get("/health") { _ in Response(text: "{\"status\":\"ok\"}\n", contentType: "application/json") }
        sse("/sse", SSEEndpoint.handle)
        stream("/stream", StreamEndpoint.handle)
        stream("/ndjson", NDJSONEndpoint.handle)
        webSocket("/ws/echo", options: WebSocketEndpoints.echoOptions, WebSocketEndpoints.echo)
        webSocket("/ws/ticker", options: WebSocketEndpoints.tickerOptions, WebSocketEndpoints.ticker)
        let broadcast = WebSocketBroadcast()
        webSocket("/ws/broadcast") { request, ws in try await broadcast.handle(request, ws) }
        addMockProviders(script: aiScript)
        addChannels(channels)
    }
}
