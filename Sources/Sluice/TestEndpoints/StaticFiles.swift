import HTTPTypes
import CSluiceShims
import SluiceCore
import SluiceAI
#if canImport(Glibc)
import Glibc
#endif

/// Serves files from one folder, never a file outside it.
///
/// The path is percent-decoded once; `.` and `..` segments, NUL and backslashes are refused with 400
/// (so `%2e%2e` cannot climb out either). Files are opened with openat2(RESOLVE_BENEATH) under the
/// folder's descriptor: one syscall, and a symbolic link cannot lead outside even if it is swapped
/// between check and open (the old realpath-then-open could be raced). A symbolic link with an
/// absolute target is resolved and must land inside the folder; one pointing outside gives 404.
/// A folder serves its `index.html`. Files served stay open in an ``OpenFileCache``, so a request
/// costs at most one `fstatat` (see there for why that is still fresh), and settled files are served
/// from memory.
///
/// ```swift
/// router.staticFiles(from: "public")     // GET /app.js → public/app.js
/// ```
struct StaticFiles: Sendable {
    /// The folder's real path.
    let root: String
    private let folder: FolderDescriptor
    /// Descriptors of files served lately, checked against their path again for any request that
    /// arrived after the last check began.
    let openFiles: OpenFileCache

    /// `nil` when `directory` does not exist.
    init?(directory: String, openFiles: OpenFileCache = OpenFileCache()) {
        self.openFiles = openFiles
        guard let real = StaticFiles.realPath(directory) else { return nil }
        let fd = Glibc.open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        root = real
        folder = FolderDescriptor(fd)
    }

    /// A regular file opened for a request.
    struct OpenFile {
        /// The whole file as it is now; owns (or shares) the descriptor, and carries the bytes when the
        /// cache keeps a larger settled file (``FileRegion/inMemory``).
        var region: FileRegion
        /// Content-Type (from the name: `index.html` for a folder) and Content-Length.
        private(set) var fields: HTTPFields
        /// `fields` as bytes, made once for every response that serves this file.
        private(set) var encodedFields: EncodedFields
        /// The bytes of a small settled file the cache keeps (see ``OpenFileCache``), sent as a body.
        var contents: [UInt8]?
        var size: Int { region.count }
        /// Whether the cache keeps the file's bytes in memory (either way).
        var isKept: Bool { contents != nil || region.inMemory != nil }
        /// The same file read from its descriptor.
        var fromDisk: OpenFile {
            var file = self
            file.contents = nil
            file.region = region.fromDisk
            return file
        }

        init(region: FileRegion, name: some StringProtocol) {
            self.region = region
            fields = [.contentType: StaticFiles.contentType(for: name), .contentLength: String(region.count)]
            encodedFields = EncodedFields(fields)
        }

        /// The same file at its current length (the fields are copied only when that changed).
        func resized(to count: Int) -> OpenFile {
            var file = self
            if count != region.count {
                file.region = region.resized(to: count)
                file.contents = nil
                file.fields[.contentLength] = String(count)
                file.encodedFields = EncodedFields(file.fields)
            }
            return file
        }
    }

    /// GET: the file as the body.
    func get(_ request: Request) throws -> Response {
        let file = try open(request.path, receivedAt: request.received)
        if let contents = file.contents { return Response(headers: file.fields, encoded: file.encodedFields, body: contents) }
        return Response(headers: file.fields, encoded: file.encodedFields, file: file.region)
    }

    /// HEAD: the fields a GET would send (its length included), and no body.
    func head(_ request: Request) throws -> Response {
        let file = try open(request.path, receivedAt: request.received)
        return Response(headers: file.fields, encoded: file.encodedFields)
    }

    /// Opens the file for a URL path as it was on disk at `receivedAt` or later, or throws the
    /// HTTPError to answer with.
    func open(_ urlPath: Substring, receivedAt: Moment = .now) throws -> OpenFile {
        let path = try Self.plainRelativePath(urlPath) ?? Self.relativePath(decoding: urlPath)
        if let cached = openFiles.lookup(path, under: folder.fd, receivedAt: receivedAt) { return cached }

        let checkedAt = Moment.now
        let relativePath = path.isEmpty ? "." : path
        var fd = openInside(relativePath)
        var info = stat()
        if fd >= 0, fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            // A folder's index is not cached: the cache holds files their own path names.
            fd = openInside(relativePath + "/index.html")
            guard fd >= 0 else { throw HTTPError(.notFound, "not found") }
            let region = FileRegion(takingOwnershipOf: fd, count: 0)
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw HTTPError(.notFound, "not found") }
            return OpenFile(region: region.resized(to: Int(info.st_size)), name: "index.html")
        }
        guard fd >= 0 else { throw HTTPError(.notFound, "not found") }
        // The region owns the descriptor from here on, whatever happens next.
        let region = FileRegion(takingOwnershipOf: fd, count: Int(info.st_size))
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw HTTPError(.notFound, "not found") }
        let name = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { path[path.utf8.index(after: $0)...] } ?? path[...]
        let file = openFiles.keepingContents(of: OpenFile(region: region, name: name), stamp: FileStamp(info))
        openFiles.insert(file, info: info, at: path, checkedAt: checkedAt)
        return file
    }

    /// The path relative to the folder when the URL path needs no decoding or checking: no `%`, no
    /// backslash or NUL, no segment starting with `.`, no empty segment. Most paths are like that,
    /// and they are their own answer (the general way copied them twice and validated the copy).
    static func plainRelativePath(_ urlPath: Substring) -> String? {
        // Scanned and copied as the path's contiguous bytes (its UTF-8 view took a generic way in).
        var path = urlPath
        return path.withUTF8 { bytes in
            isPlain(bytes) ? String(decoding: UnsafeBufferPointer(rebasing: bytes.dropFirst()), as: UTF8.self) : nil
        }
    }

    private static func isPlain(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard utf8.first == UInt8(ascii: "/") else { return false }
        var previous = UInt8(ascii: "/")
        for byte in utf8.dropFirst() {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "\\"), 0: return false
            case UInt8(ascii: "."), UInt8(ascii: "/"):
                if previous == UInt8(ascii: "/") { return false }  // a dot segment's start, an empty segment
                previous = byte
            default: previous = byte
            }
        }
        return !(previous == UInt8(ascii: "/") && utf8.count > 1)  // not a trailing slash
    }

    /// The path relative to the folder, percent-decoded: NUL and backslashes refused, `.` and `..`
    /// segments refused, empty segments dropped, in one pass over the decoded bytes.
    static func relativePath(decoding urlPath: Substring) throws -> String {
        guard let decoded = PercentDecoding.decodeBytes(urlPath) else { throw HTTPError(.badRequest, "malformed percent-encoding") }
        var relative: [UInt8] = []
        relative.reserveCapacity(decoded.count)
        var start = 0
        for end in 0...decoded.count where end == decoded.count || decoded[end] == UInt8(ascii: "/") {
            let segment = decoded[start..<end]
            start = end + 1
            if segment.isEmpty { continue }
            if segment.contains(0) || segment.contains(UInt8(ascii: "\\")) { throw HTTPError(.badRequest, "invalid path") }
            if segment.allSatisfy({ $0 == UInt8(ascii: ".") }) && segment.count <= 2 {
                throw HTTPError(.badRequest, "path traversal refused")
            }
            if !relative.isEmpty { relative.append(UInt8(ascii: "/")) }
            relative += segment
        }
        guard let path = String(validating: relative, as: UTF8.self) else { throw HTTPError(.badRequest, "invalid path") }
        return path
    }

    /// A descriptor for `relative` under the folder, or -1.
    private func openInside(_ relative: String) -> Int32 {
        let fd = sluice_open_beneath(folder.fd, relative)
        guard fd < 0, errno == EXDEV || errno == ENOSYS else { return fd }
        // A symbolic link with an absolute target (openat2 refuses those even when they stay inside),
        // or a kernel without openat2: resolve the whole path and check it is still inside.
        guard let real = Self.realPath(root + "/" + relative), real.hasPrefix(root + "/") else { return -1 }
        return Glibc.open(real, O_RDONLY | O_CLOEXEC)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(validatingCString: resolved)
    }

    static func contentType(for path: some StringProtocol) -> String {
        // Only the bytes after the last dot of the last segment, lowercased as ASCII: Character
        // searches and `lowercased()` were ~3% of a small file request.
        var reversedExtension: [UInt8] = []
        var hasExtension = false
        for byte in path.utf8.reversed() {
            if byte == UInt8(ascii: ".") { hasExtension = true; break }
            if byte == UInt8(ascii: "/") { break }
            reversedExtension.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
        }
        let ext = hasExtension ? String(decoding: reversedExtension.reversed(), as: UTF8.self) : ""
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

/// The served folder's descriptor, closed with the last router that serves it.
private final class FolderDescriptor: Sendable {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

extension Router {
    /// Serves the files under `directory` for any GET or HEAD no earlier route matched.
    /// Returns false when the folder does not exist.
    @discardableResult
    public mutating func staticFiles(from directory: String) -> Bool {
        guard let files = StaticFiles(directory: directory) else { return false }
        // Answered at once (no task): opening a file neither waits nor, on a local disk, blocks for
        // long. HEAD has its own route, registered first, so it sends no file.
        immediate([.head], "/*") { request in try files.head(request) }
        immediate([.get], "/*") { request in try files.get(request) }
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
