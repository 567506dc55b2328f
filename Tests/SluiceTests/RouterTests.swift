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
            defer { close(file.fd) }
            #expect(status == 200, "\(path) was opened")
            var bytes = [UInt8](repeating: 0, count: 64)
            let n = read(file.fd, &bytes, bytes.count)
            #expect(n == file.size)
            #expect(["<h1>home</h1>", "body{}"].contains(String(decoding: bytes.prefix(max(n, 0)), as: UTF8.self)), "\(path)")
        } catch let error as HTTPError {
            #expect(Int(error.status.code) == status, "\(path)")
        }
    }

    @Test(arguments: [
        ("/a/app.CSS", "text/css; charset=utf-8"), ("/a/b.tar.gz", "application/octet-stream"), ("/x.d/README", "application/octet-stream"),
        ("/index.html", "text/html; charset=utf-8"), ("/.json", "application/json"), ("/noext", "application/octet-stream"),
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
