import Foundation
import Testing
@testable import Sluice

/// A real browser (headless Chromium, installed by scripts/bootstrap) runs `public/check.html`
/// against the server: its own EventSource and WebSocket implementations, not ours.
@Suite struct BrowserTests {
    @Test func chromiumEventSourceAndWebSocket() async throws {
        let report = Locked<String?>(nil)
        try await withServer(routes: { router in
            router.addTestEndpoints()
            router.post("/report") { request in
                report.withLock { $0 = String(decoding: request.body, as: UTF8.self) }
                return Response(status: .noContent)
            }
            router.staticFiles(from: packageRoot.appendingPathComponent("public").path)
        }) { server in
            let profile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-chromium-\(UInt32.random(in: 0...UInt32.max))")
            defer { try? FileManager.default.removeItem(at: profile) }
            let browser = try ChildProcess("/usr/bin/chromium", ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                 "--user-data-dir=\(profile.path)", "--remote-debugging-port=0",
                                 "\(server.base)/check.html?report=/report"], stdout: .discard, stderr: .discard)
            defer { browser.stop() }
            #expect(await eventually(timeout: .seconds(60)) { report.withLock { $0 } != nil })
            let json = try #require(report.withLock { $0 })
            let result = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(result["sse"] as? [String] == ["1", "2", "3"], "\(json)")
            #expect(result["ws"] as? [String] == ["hello from the browser ✓", "binary:1,2,3,250", "text:200000"], "\(json)")
            #expect(result["closeCode"] as? Int == 1000)
            #expect(result["extensions"] as? String == "permessage-deflate", "\(json)")
        }
    }
}
