import Foundation
import Testing
@testable import Sluice

@Suite struct RouterTests {
    static func router() -> Router {
        var router = Router()
        router.get("/health") { _ in Response(text: "ok") }
        router.post("/health") { _ in Response(text: "posted") }
        router.get("/channels/{name}/sse") { request in Response(text: request.parameters["name"]!) }
        router.stream("/files/*") { _, _ in }
        return router
    }

    func kind(_ match: Router.Match) -> String {
        switch match {
        case .found(_, let parameters): "found \(parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
        case .methodNotAllowed(let allow): "405 \(allow.map(\.rawValue).joined(separator: ","))"
        case .notFound: "404"
        }
    }

    @Test(arguments: [
        ("GET", "/health", "found "),
        ("HEAD", "/health", "found "),
        ("POST", "/health", "found "),
        ("PUT", "/health", "405 GET,POST,HEAD"),
        ("GET", "/health/", "found "),
        ("GET", "/healthz", "404"),
        ("GET", "/channels/news/sse", "found name=news"),
        ("GET", "/channels/a%20b/sse", "found name=a b"),
        ("GET", "/channels/news", "404"),
        ("GET", "/channels/x/sse/extra", "404"),
        ("GET", "/files/a/b/c.txt", "found "),
        ("GET", "/files", "found "),
        ("DELETE", "/files/x", "405 GET,HEAD"),
    ])
    func matches(_ method: String, _ path: String, _ expected: String) {
        let match = Self.router().match(method: HTTPRequest.Method(method)!, path: Substring(path))
        #expect(kind(match) == expected)
    }

    /// Routes are looked up by their first segment, but the first registered route that fits still
    /// wins, whether its first segment is a literal, a parameter or `*`.
    @Test func firstRegisteredRouteWinsAcrossLiteralAndOpenFirstSegments() {
        var router = Router()
        router.get("/a/{x}") { _ in Response(text: "1") }
        router.get("/{first}/b") { _ in Response(text: "2") }
        router.get("/a/b") { _ in Response(text: "3") }
        router.get("/") { _ in Response(text: "root") }
        router.post("/*") { _ in Response(text: "any") }
        router.get("/a/c") { _ in Response(text: "4") }
        func winner(_ method: HTTPRequest.Method, _ path: Substring) -> String {
            switch router.match(method: method, path: path) {
            case .found(_, let parameters): parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined()
            case .methodNotAllowed(let allow): "405 " + allow.map(\.rawValue).joined(separator: ",")
            case .notFound: "404"
            }
        }
        #expect(winner(.get, "/a/b") == "x=b")  // route 1, before both the parameter route and the literal one
        #expect(winner(.get, "/z/b") == "first=z")
        #expect(winner(.get, "/") == "")
        #expect(winner(.post, "/a/c") == "")    // `*` (registered 5th) before "/a/c" for POST
        #expect(winner(.put, "/a/c") == "405 GET,POST,HEAD")
        #expect(winner(.put, "/") == "405 GET,POST,HEAD")
        #expect(winner(.get, "/q") == "405 POST")
        #expect(router.methods(at: "/z/b").map(\.rawValue) == ["GET", "POST", "HEAD"])
    }

    @Test(arguments: [
        ("", []), ("/", []), ("//a//b/", ["a", "b"]), ("a", ["a"]), ("/a/b", ["a", "b"]),
        ("/é/ü.txt", ["é", "ü.txt"]), ("/e\u{301}/x", ["e\u{301}", "x"]),
    ] as [(String, [String])])
    func pathSegments(_ path: String, _ expected: [String]) {
        #expect(Router.segments(of: Substring(path)).map(String.init) == expected)
    }

    /// Literal segments match byte for byte, first segment and later ones alike: a canonically
    /// equivalent spelling (é precomposed against e + combining acute) is another path, as it is on disk.
    @Test func literalSegmentsMatchByteForByte() {
        var router = Router()
        router.get("/caf\u{E9}/menu") { _ in Response() }
        router.get("/x/caf\u{E9}") { _ in Response() }
        func found(_ path: String) -> Bool {
            if case .found = router.match(method: .get, path: Substring(path)) { return true }
            return false
        }
        #expect(found("/caf\u{E9}/menu") && found("/x/caf\u{E9}"))
        #expect(!found("/cafe\u{301}/menu"))
        #expect(!found("/x/cafe\u{301}"))
    }

    @Test func pathStopsAtTheQuery() {
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "t", path: "/é/x?q=1?2"))
        #expect(request.path == "/é/x")
        #expect(request.queryItems.map(\.value) == ["1?2"])
    }

    @Test func methodsAtAPath() {
        #expect(Self.router().methods(at: "/health").map(\.rawValue) == ["GET", "POST", "HEAD"])
        #expect(Self.router().methods(at: "/nope").isEmpty)
    }

    @Test func queryDecoding() {
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "t", path: "/sse?count=3&event=a+b&x=%41%42&flag&x=last"))
        #expect(request.path == "/sse")
        #expect(request.query["count"] == "3")
        #expect(request.query["event"] == "a b")
        #expect(request.query["flag"] == "")
        #expect(request.query["x"] == "last")
        #expect(request.queryItems.map(\.value) == ["3", "a b", "AB", "", "last"])
    }

    /// The path without its query, and when the request arrived, as given (kept as a Moment inside).
    @Test func pathAndReceivedAt() {
        let received = ContinuousClock.now.advanced(by: .seconds(-5))
        var request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "t", path: "/é/a?b=c?d"), receivedAt: received)
        #expect(request.path == "/é/a")
        #expect(request.receivedAt == received)
        let later = received.advanced(by: .milliseconds(7))
        request.receivedAt = later
        #expect(request.receivedAt == later)
        request.head.path = "/no-query"
        #expect(request.path == "/no-query")
    }
}

@Suite struct StaticFilesTests {
    static func makeRoot() throws -> (root: String, files: StaticFiles) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-static-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root + "/public/sub", withIntermediateDirectories: true)
        try "<h1>home</h1>".write(toFile: root + "/public/index.html", atomically: true, encoding: .utf8)
        try "body{}".write(toFile: root + "/public/sub/app.css", atomically: true, encoding: .utf8)
        try "secret".write(toFile: root + "/secret.txt", atomically: true, encoding: .utf8)
        let links = [  // name in public/ → target
            "escape.txt": root + "/secret.txt", "escape-relative.txt": "../secret.txt",
            "inside-absolute.css": root + "/public/sub/app.css", "inside-relative.css": "sub/app.css",
            "outside-folder": root, "sub/up.html": "../index.html",
        ]
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: root + "/public/" + name, withDestinationPath: target)
        }
        return (root, StaticFiles(directory: root + "/public")!)
    }

    @Test(arguments: [
        ("/", 200), ("/index.html", 200), ("/sub/app.css", 200), ("/sub", 404), ("/missing", 404),
        ("/../secret.txt", 400), ("/sub/../../secret.txt", 400), ("/%2e%2e/secret.txt", 400), ("/%2E%2E/secret.txt", 400),
        ("/sub/%2e%2e/%2e%2e/secret.txt", 400), ("/./index.html", 400), ("/..%2fsecret.txt", 400),
        ("/%00", 400), ("/%zz", 400), ("/a%5c..%5csecret.txt", 400), ("//etc/passwd", 404),
        // Symbolic links: inside the folder they serve, whether relative or absolute; out of it, 404.
        ("/escape.txt", 404), ("/escape-relative.txt", 404), ("/outside-folder/secret.txt", 404),
        ("/inside-absolute.css", 200), ("/inside-relative.css", 200), ("/sub/up.html", 200),
    ])
    func opensOnlyInsideTheFolder(_ path: String, _ status: Int) throws {
        let (root, files) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        do {
            let file = try files.open(Substring(path))
            #expect(status == 200, "\(path) was opened")
            var bytes = [UInt8](repeating: 0, count: 64)
            let n = pread(file.region.descriptor, &bytes, bytes.count, 0)
            #expect(n == file.size)
            #expect(["<h1>home</h1>", "body{}"].contains(String(decoding: bytes.prefix(max(n, 0)), as: UTF8.self)), "\(path)")
        } catch let error as HTTPError {
            #expect(Int(error.status.code) == status, "\(path)")
        }
    }

    /// Served files keep their descriptor, but every request sees the file as it is on disk now.
    @Test func cachedDescriptorsFollowTheFileOnDisk() throws {
        let (root, files) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        func body(_ path: Substring) throws -> String {
            let file = try files.open(path)
            if let contents = file.contents { return String(decoding: contents, as: UTF8.self) }
            var bytes = [UInt8](repeating: 0, count: file.size)
            try bytes.withUnsafeMutableBytes { try file.region.read(at: 0, into: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
        func status(_ path: Substring) -> Int {
            do { _ = try files.open(path); return 200 } catch { return Int((error as? HTTPError)?.status.code ?? 0) }
        }
        let css = root + "/public/sub/app.css"
        #expect(try body("/sub/app.css") == "body{}")
        #expect(try body("/sub/app.css") == "body{}")
        #expect(files.openFiles.count == 1)
        // Rewritten in place (same inode): the new bytes and the new length.
        let handle = try #require(FileHandle(forWritingAtPath: css))
        handle.truncateFile(atOffset: 0)
        handle.write(Data("p{color:red}".utf8))
        handle.closeFile()
        #expect(try body("/sub/app.css") == "p{color:red}")
        #expect(try files.open("/sub/app.css").fields[.contentLength] == "12")
        // Replaced by a rename (a new inode): the new file.
        try "h1{}".write(toFile: css, atomically: true, encoding: .utf8)
        #expect(try body("/sub/app.css") == "h1{}")
        // Removed: 404, and the descriptor is let go.
        try FileManager.default.removeItem(atPath: css)
        #expect(status("/sub/app.css") == 404)
        #expect(files.openFiles.count == 0)
        // A symbolic link swapped to point outside after it was served from inside: never the cached
        // file, never the outside one.
        try "body{}".write(toFile: css, atomically: true, encoding: .utf8)
        #expect(try body("/inside-relative.css") == "body{}")
        try FileManager.default.removeItem(atPath: root + "/public/inside-relative.css")
        try FileManager.default.createSymbolicLink(atPath: root + "/public/inside-relative.css", withDestinationPath: "../secret.txt")
        #expect(status("/inside-relative.css") == 404)
        // A folder's index is served but not cached under the folder's path.
        #expect(try body("/") == "<h1>home</h1>")
    }

    /// A check that began after a request arrived already saw whatever its client did before sending
    /// it, so that request is served without another stat; a later request gets a new check.
    @Test func aCheckMadeAfterARequestArrivedServesIt() throws {
        let (root, files) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let css = root + "/public/sub/app.css"
        let received = Moment.now
        #expect(try files.open("/sub/app.css", receivedAt: received).size == 6)  // opened and cached after `received`
        try "h1{}".write(toFile: css, atomically: true, encoding: .utf8)
        #expect(try files.open("/sub/app.css", receivedAt: received).size == 6)  // the check after `received` stands
        #expect(try files.open("/sub/app.css").size == 4)  // received now: checked again, the new file
        #expect(try files.open("/sub/app.css", receivedAt: received).size == 4)  // and that newer check serves all
    }

    /// A small file whose last change is settled is served from memory; a change in place (same size)
    /// is still seen, since it moves the ctime.
    @Test func settledSmallFilesAreKeptAndStillFollowTheDisk() throws {
        let (root, _) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = try #require(StaticFiles(directory: root + "/public", openFiles: OpenFileCache(settledAfter: .zero)))
        let css = root + "/public/sub/app.css"
        #expect(try files.open("/sub/app.css").contents == Array("body{}".utf8))
        #expect(try files.open("/sub/app.css").contents == Array("body{}".utf8))  // from the cache
        let response = try files.get(Request(head: HTTPRequest(method: .get, scheme: "http", authority: "t", path: "/sub/app.css")))
        #expect(response.body == Array("body{}".utf8) && response.file == nil)
        #expect(response.head.headerFields[.contentLength] == "6" && response.head.headerFields[.contentType] == "text/css; charset=utf-8")
        // Past one tick of the clock file times come from (a few ms), so the rewrite's ctime differs.
        Thread.sleep(forTimeInterval: 0.05)
        let handle = try #require(FileHandle(forWritingAtPath: css))
        handle.write(Data("main{}".utf8))
        handle.closeFile()
        #expect(try files.open("/sub/app.css").contents == Array("main{}".utf8))
        // Too large to keep: read from the descriptor.
        try String(repeating: "x", count: OpenFileCache.contentsLimit + 1).write(toFile: css, atomically: true, encoding: .utf8)
        let large = try files.open("/sub/app.css")
        #expect(large.contents == nil && large.size == OpenFileCache.contentsLimit + 1)
    }

    /// A larger settled file is kept in its region (sent by reference); the bytes kept in all stay
    /// within the budget, and a file dropped or replaced gives its share back.
    @Test func largerSettledFilesAreKeptInTheirRegionWithinTheBudget() throws {
        let (root, _) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = OpenFileCache(settledAfter: .zero, contentsBudget: 250_000)
        let files = try #require(StaticFiles(directory: root + "/public", openFiles: cache))
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        for name in ["a", "b", "c"] { try Data(big).write(to: URL(fileURLWithPath: root + "/public/\(name).bin")) }
        let a = try files.open("/a.bin")
        #expect(a.contents == nil && a.region.inMemory?.count == 100_000 && cache.keptBytes == 100_000)
        let response = try files.get(Request(head: HTTPRequest(method: .get, scheme: "http", authority: "t", path: "/a.bin")))
        #expect(response.body.isEmpty && response.file?.inMemory != nil && response.head.headerFields[.contentLength] == "100000")
        var bytes = [UInt8](repeating: 0, count: 100_000)
        try bytes.withUnsafeMutableBytes { try a.region.read(at: 0, into: $0) }
        #expect(bytes == big)
        #expect(try files.open("/b.bin").region.inMemory != nil && cache.keptBytes == 200_000)
        // Over the budget: read from the descriptor.
        #expect(try files.open("/c.bin").region.inMemory == nil && cache.keptBytes == 200_000)
        // Changed in place (a new size): the old bytes are let go, the new ones kept.
        Thread.sleep(forTimeInterval: 0.05)
        try Data(big.prefix(50_000)).write(to: URL(fileURLWithPath: root + "/public/a.bin"), options: [])
        let changed = try files.open("/a.bin")
        #expect(changed.size == 50_000 && changed.region.inMemory?.count == 50_000 && cache.keptBytes == 150_000)
        // Removed: its entry and its share go with the next look.
        unlink(root + "/public/b.bin")
        #expect(throws: HTTPError.self) { try files.open("/b.bin") }
        #expect(cache.keptBytes == 50_000)
        // With room again, the next check of the file that did not fit keeps it.
        #expect(try files.open("/c.bin").region.inMemory != nil && cache.keptBytes == 150_000)
    }

    /// A file changed lately is never kept: two changes within one tick of the file clock could show
    /// the same size, mtime and ctime, and the cache could not tell the second from the first.
    @Test func aFileChangedLatelyIsReadFromItsDescriptor() throws {
        let (root, files) = try Self.makeRoot()  // settled after the default 2 s
        defer { try? FileManager.default.removeItem(atPath: root) }
        let css = root + "/public/sub/app.css"
        #expect(try files.open("/sub/app.css").contents == nil)
        let handle = try #require(FileHandle(forWritingAtPath: css))
        handle.write(Data("main{}".utf8))  // same size, perhaps the same timestamps
        handle.closeFile()
        let file = try files.open("/sub/app.css")
        var bytes = [UInt8](repeating: 0, count: file.size)
        try bytes.withUnsafeMutableBytes { try file.region.read(at: 0, into: $0) }
        #expect(file.contents == nil && bytes == Array("main{}".utf8))
    }

    /// The path needing no decoding nor checks is taken as it is, and gives what the general way gives.
    @Test(arguments: [
        "/", "/a", "/a/b.txt", "/a.b/c", "/é/ü.txt", "/a//b", "/a/", "//a", "/.x", "/a/.b", "/a/./b", "/a/../b", "/..",
        "/...", "/%2e%2e/x", "/a%20b", "/a\\b", "/a\u{0}b", "", "a/b",
    ])
    func plainPathsNeedNoDecoding(_ path: String) throws {
        let general = Result { try StaticFiles.relativePath(decoding: Substring(path)) }
        if let plain = StaticFiles.plainRelativePath(Substring(path)) {
            #expect(try general.get() == plain)
        } else {
            // Left to the general way: something to decode or refuse, or a segment to drop.
            let plainLooking = path.hasPrefix("/") && !path.contains("%") && !path.contains("\\") && !path.contains("\u{0}")
                && !path.contains("/.") && !path.contains("//") && (path == "/" || !path.hasSuffix("/"))
            #expect(!plainLooking, "\(path) should have been taken as it is")
        }
    }

    @Test func theCacheHoldsAtMostItsCapacity() throws {
        let (root, _) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = OpenFileCache(capacity: 3)
        for i in 0..<10 {
            let path = root + "/public/f\(i).txt"
            try "file \(i)".write(toFile: path, atomically: true, encoding: .utf8)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            var info = stat()
            fstat(fd, &info)
            let file = StaticFiles.OpenFile(region: FileRegion(takingOwnershipOf: fd, count: Int(info.st_size)), name: "f\(i).txt")
            cache.insert(file, info: info, at: "f\(i).txt", checkedAt: .now)
            #expect(cache.count == min(i + 1, 3))
        }
        let folder = open(root + "/public", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(folder) }
        let file = try #require(cache.lookup("f9.txt", under: folder, receivedAt: .now))
        #expect(file.size == 6 && file.fields[.contentLength] == "6" && file.fields[.contentType] == "text/plain; charset=utf-8")
    }

    @Test(arguments: [
        ("/a/app.CSS", "text/css; charset=utf-8"), ("/a/b.tar.gz", "application/octet-stream"), ("/x.d/README", "application/octet-stream"),
        ("/index.html", "text/html; charset=utf-8"), ("/.json", "application/json"), ("/noext", "application/octet-stream"),
        ("noext", "application/octet-stream"), ("a.JS", "text/javascript; charset=utf-8"), ("/x.svg/", "application/octet-stream"),
        ("/é.Png", "image/png"),
    ])
    func contentTypeFromTheLastSegmentsExtension(_ path: String, _ type: String) {
        #expect(StaticFiles.contentType(for: path) == type)
    }

    @Test func servedOverHTTPWithContentTypes() async throws {
        let (root, _) = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await withServer(routes: { router in
            router.addTestEndpoints()
            router.staticFiles(from: root + "/public")
        }) { server in
            let (out, _, _) = try await curl(["-i", "\(server.base)/sub/app.css"])
            let text = String(decoding: out, as: UTF8.self)
            #expect(text.contains("Content-Type: text/css; charset=utf-8\r\n"))
            #expect(text.contains("Content-Length: 6\r\n"))
            #expect(text.hasSuffix("\r\n\r\nbody{}"))
            let (home, _, _) = try await curl([server.base + "/"])
            #expect(String(decoding: home, as: UTF8.self) == "<h1>home</h1>")
            let (_, _, status) = try await curl(["-f", "--path-as-is", server.base + "/%2e%2e/secret.txt"])
            #expect(status == 22)  // curl -f: HTTP error
            let (health, _, _) = try await curl([server.base + "/health"])
            #expect(String(decoding: health, as: UTF8.self) == "{\"status\":\"ok\"}\n")  // routes win over files
            // A file of several 64 KiB reads, not a multiple of one, arrives byte for byte over both protocols.
            let big = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
            try Data(big).write(to: URL(fileURLWithPath: root + "/public/big.bin"))
            #expect(try await curl([server.base + "/big.bin"]).stdout == big)
            #expect(try await curl(["--http2-prior-knowledge", server.base + "/big.bin"]).stdout == big)
        }
    }
}
