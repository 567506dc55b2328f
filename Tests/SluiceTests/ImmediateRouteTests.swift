import Foundation
import Testing
@testable import Sluice

/// Immediate routes answer inside the callback that read the request, without a task, unless the
/// request has a body to collect, the server places handlers on the concurrent pool or injects
/// faults; then they run in a task like plain routes. Either way the response is the same.
@Suite struct ImmediateRouteTests {
    static func routes(file: String) -> (inout Router) -> Void {
        { router in
            router.immediate([.get, .post], "/now") { request in
                let inTask = withUnsafeCurrentTask { $0 != nil }
                return Response(text: "\(inTask ? "task" : "at once") \(request.body.count)")
            }
            router.immediate([.get], "/missing") { _ in throw HTTPError(.notFound, "gone") }
            router.immediate([.get], "/broken") { _ in
                struct Broken: Error {}
                throw Broken()
            }
            router.immediate([.get], "/file") { _ in try Self.fileResponse(file) }
            router.get("/async-file") { _ in try Self.fileResponse(file) }
        }
    }

    static func fileResponse(_ path: String) throws -> Response {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError(.notFound) }
        var info = stat()
        fstat(fd, &info)
        return Response(headers: [.contentType: "application/octet-stream"],
                        file: FileRegion(takingOwnershipOf: fd, count: Int(info.st_size)))
    }

    @Test(arguments: [(HandlerPlacement.eventLoop, false), (.concurrentPool, false), (.eventLoop, true)])
    func answersWithOrWithoutATask(_ placement: HandlerPlacement, _ faults: Bool) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-immediate-\(UInt32.random(in: 0...UInt32.max))").path
        let bytes = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let atOnce = placement == .eventLoop && !faults
        try await withServer(configure: { $0.handlerPlacement = placement; $0.faultInjection = faults }, routes: Self.routes(file: path)) { server in
            for version in ["--http1.1", "--http2-prior-knowledge"] {
                func get(_ arguments: [String]) async throws -> String {
                    let result = try await curl([version, "-w", " %{http_code}"] + arguments)
                    return String(decoding: result.stdout, as: UTF8.self)
                }
                #expect(try await get(["\(server.base)/now"]) == "\(atOnce ? "at once" : "task") 0 200", "\(version)")
                // A body is collected first, in a task.
                #expect(try await get(["--data-binary", "abc", "\(server.base)/now"]) == "task 3 200", "\(version)")
                #expect(try await get(["\(server.base)/missing"]) == "gone\n 404", "\(version)")
                #expect(try await get(["\(server.base)/broken"]).hasSuffix(" 500"), "\(version)")
                #expect(try await get(["-o", "/dev/null", "\(server.base)/nope"]) == " 404", "\(version)")
                for route in ["/file", "/async-file"] {
                    let file = try await curl([version, "\(server.base)\(route)"])
                    #expect(file.stdout.elementsEqual(bytes), "\(version) \(route): \(file.stdout.count) bytes \(file.stderr)")
                    let head = String(decoding: try await curl([version, "-I", "\(server.base)\(route)"]).stdout, as: UTF8.self)
                    #expect(head.lowercased().contains("content-length: 200003\r\n"), "\(version) \(route): \(head)")
                }
            }
        }
    }
}
