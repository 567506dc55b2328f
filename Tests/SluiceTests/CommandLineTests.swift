import Foundation
@testable import Sluice
import SluiceAI
import Testing

/// The `sluice` binary itself, as scripts and users run it.
@Suite struct CommandLineTests {
    /// `sluice` is built beside the test bundle.
    static var binary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("sluice").path
    }

    @Test func servePrintsItsAddressFirstAndStopsOnSIGTERM() async throws {
        // The package's `public` folder, so the demo page is found.
        let publicFolder = packageRoot.appendingPathComponent("public").path
        let process = try ChildProcess(Self.binary, ["serve", "--port", "0", "--loops", "1", "--log-level", "error", "--public", publicFolder],
                                       stderr: .discard)
        defer { process.stop() }
        let firstLine = try await blocking { process.readStdoutLine() }
        #expect(firstLine.hasPrefix("listening on http://127.0.0.1:"))
        let port = try #require(Int(firstLine.split(separator: ":").last!))
        let (health, _, _) = try await curl(["http://127.0.0.1:\(port)/health"])
        #expect(String(decoding: health, as: UTF8.self) == "{\"status\":\"ok\"}\n")
        let (page, _, _) = try await curl(["http://127.0.0.1:\(port)/"])
        #expect(String(decoding: page, as: UTF8.self).contains("<h1>Sluice</h1>"))

        process.signal(SIGTERM)
        let status = try await blocking { process.wait() }
        #expect(status == 0)
    }

    @Test func loadMeasuresATickerFanOutAndIdleTransports() async throws {
        let process = try ChildProcess(Self.binary, ["serve", "--port", "0", "--loops", "1", "--log-level", "error", "--public", "/nonexistent",
                                                     "--ticker-rate", "500"], stderr: .discard)
        defer { process.stop() }
        let firstLine = try await blocking { process.readStdoutLine() }
        let port = try #require(Int(firstLine.split(separator: ":").last!))
        // The ticker's events are 100-byte SSE frames whose data starts with the publish time in µs.
        let sample = try await curl(["-sN", "--max-time", "0.3", "http://127.0.0.1:\(port)/channels/ticks/sse?from=now"])
        let frames = String(decoding: sample.stdout, as: UTF8.self).components(separatedBy: "\n\n").dropLast().filter { $0.hasPrefix("id: ") }
        #expect(frames.count >= 10)
        #expect(frames.allSatisfy { $0.utf8.count + 2 == 100 })
        let stamp = try #require(frames.first?.split(separator: "\n").last?.dropFirst("data: ".count).split(separator: " ").first)
        #expect(abs(Double(try #require(Int(stamp))) / 1e6 - Date().timeIntervalSince1970) < 5)

        let fanout = try await run(Self.binary, ["load", "fanout", "http://127.0.0.1:\(port)/channels/ticks/sse?from=now",
                                                 "--connections", "20", "--seconds", "1", "--warmup", "0.2"])
        #expect(fanout.status == 0)
        let result = try JSONValue(parsing: fanout.stdout)
        #expect(result["streaming"]?.int == 20)
        // 500 events/s to 20 readers for a second: about 10,000 (timer ticks make it inexact).
        #expect((7_000...13_000).contains(try #require(result["events"]?.int)))
        #expect(try #require(result["p99us"]?.int) > 0)

        let idle = try await run(Self.binary, ["load", "idle", "--connections", "20", "http://127.0.0.1:\(port)/channels/quiet/sse"])
        #expect(idle.status == 0)
        #expect(try JSONValue(parsing: idle.stdout)["connections"]?.int == 20)
        let refused = try await run(Self.binary, ["load", "fanout", "https://127.0.0.1:\(port)/x"])
        #expect(refused.status != 0)

        // WebSocket round trips: every message echoed and counted once.
        let echo = try await run(Self.binary, ["load", "ws-echo", "ws://127.0.0.1:\(port)/ws/echo", "--connections", "5", "--messages", "200"])
        #expect(echo.status == 0)
        let rounds = try JSONValue(parsing: echo.stdout)
        #expect(rounds["roundTrips"]?.int == 1000)
        #expect(try #require(rounds["perSecond"]?.int) > 0)
        #expect(try #require(rounds["p99us"]?.int) >= (try #require(rounds["p50us"]?.int)))
        let notWebSocket = try await run(Self.binary, ["load", "ws-echo", "ws://127.0.0.1:\(port)/health", "--messages", "1"])
        #expect(notWebSocket.status != 0)
        #expect(notWebSocket.stderr.contains("status 200"))
    }

    /// Output is gathered into batches, but an event is printed as soon as nothing more waits: the
    /// first of a slow stream shows long before the stream ends.
    @Test func listenPrintsEachEventOfAQuietStreamAtOnce() async throws {
        try await withServer { server in
            let process = try ChildProcess(Self.binary, ["listen", "--no-reconnect", "\(server.base)/sse?count=100&interval_ms=300"],
                                           stderr: .discard)
            defer { process.stop() }
            let started = ContinuousClock.now
            // The time is taken on the reading thread: the suite's other tests can hold the two-thread
            // cooperative pool for seconds before this task resumes (11.7 s seen once).
            let (first, second, printed) = try await blocking { (process.readStdoutLine(), process.readStdoutLine(), ContinuousClock.now) }
            #expect(first == "event 1" && second == "event 2")
            #expect(printed - started < .seconds(15))  // the whole stream takes 30 s
        }
    }

    @Test func listenPrintsEventsAndFailsOnFatalErrors() async throws {
        try await withServer { server in
            // A stream longer than --max-events, so it is the limit (not the stream's end) that stops it.
            let text = try await run(Self.binary, ["listen", "\(server.base)/sse?count=100&interval_ms=20", "--max-events", "3"])
            #expect(text.status == 0)
            #expect(text.stdout == "event 1\nevent 2\nevent 3\n")
            let json = try await run(Self.binary, ["listen", "\(server.base)/sse?count=5&interval_ms=0", "--format", "json",
                                                   "--last-event-id", "3", "--max-events", "2"])
            let lines = json.stdout.split(separator: "\n")
            #expect(lines.first == "{\"type\":\"connecting\"}")
            #expect(lines.contains("{\"data\":\"event 4\",\"event\":\"message\",\"id\":\"4\",\"type\":\"event\"}"))
            #expect(lines.dropLast().last == "{\"type\":\"closed\"}")
            let metrics = try JSONValue(parsing: String(try #require(lines.last)))
            #expect(metrics["type"]?.string == "metrics" && metrics["state"]?.string == "closed")
            #expect(metrics["messages_received"]?.int.map { $0 >= 2 } == true)
            let ws = try await run(Self.binary, ["listen", "ws://127.0.0.1:\(server.port)/ws/ticker?interval_ms=5&count=3"])
            #expect(ws.status == 0)
            #expect(ws.stdout == "{\"tick\":1}\n{\"tick\":2}\n{\"tick\":3}\n")
            let ndjson = try await run(Self.binary, ["listen", "--transport", "stream", "--no-reconnect", "\(server.base)/ndjson?count=2&interval_ms=0"])
            #expect(ndjson.stdout == "{\"seq\":1}\n{\"seq\":2}\n")
            // Without --transport, an answer that is not an event stream is read as records.
            let guessed = try await run(Self.binary, ["listen", "--no-reconnect", "\(server.base)/ndjson?count=2&interval_ms=0"])
            #expect(guessed.stdout == "{\"seq\":1}\n{\"seq\":2}\n")
            for n in 1...3 { _ = try await curl(["-X", "POST", "--data-binary", "posted \(n)", "\(server.base)/channels/cli"]) }
            let polled = try await run(Self.binary, ["listen", "--transport", "poll", "--max-events", "3", "\(server.base)/channels/cli/poll"])
            #expect(polled.stdout == "posted 1\nposted 2\nposted 3\n")
            let missing = try await run(Self.binary, ["listen", "\(server.base)/nope"])
            #expect(missing.status == 1)
            #expect(missing.stdout.contains("server answered 404"))
        }
    }

    @Test func listenAccumulatesAnLLMStreamAndAccumulateReadsARecording() async throws {
        try await withServer { server in
            let request = #"{"model":"m","messages":[],"stream":true,"tools":[{"type":"function","function":{"name":"find"}}]}"#
            let ok = try await run(Self.binary, ["listen", "--accumulate", "openai", "--data", request, "\(server.base)/v1/chat/completions?seed=9&words=5"])
            #expect(ok.status == 0, "\(ok.stderr)")
            let lines = ok.stdout.split(separator: "\n")
            let expected = AIScript.generated(seed: 9, words: 5, tool: "find")
            #expect(lines.first.map(String.init) == expected.text)  // streamed as it came
            let final = try JSONValue(parsing: String(try #require(lines.last)))
            #expect(final["text"]?.string == expected.text)
            #expect(final["stop_reason"]?.string == "tool_calls")
            #expect(final["tool_calls"]?[0]?["parsed_arguments"] == expected.toolCalls[0].arguments)
            #expect(final["error"] == nil)

            let cut = try await run(Self.binary, ["listen", "--accumulate", "auto", "--format", "json", "--data", request,
                                                  "\(server.base)/v1/chat/completions?truncate_after=3"])
            #expect(cut.status == 1)
            #expect(try JSONValue(parsing: cut.stdout)["error"]?["type"]?.string == "incomplete_stream")
        }
        let recording = AccumulatorFixtures.anthropic
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-recording-\(UInt32.random(in: 0...UInt32.max)).sse")
        try Data(recording.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let replay = try await run(Self.binary, ["accumulate", file.path])
        #expect(replay.status == 0)
        #expect(try JSONValue(parsing: replay.stdout)["text"]?.string == "Hi")
    }

    /// `sluice check`: the whole matrix of transports × faults against its own loopback server.
    @Test func checkPassesItsWholeMatrix() async throws {
        let result = try await run(Self.binary, ["check", "--events", "60"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("scenario") == true)
        #expect(lines.filter { $0.hasSuffix("PASS") || $0.contains("PASS  (") }.count == lines.count - 2)
        #expect(lines.last?.hasPrefix("all ") == true)
        for transport in ["sse ×", "sse-h2 ×", "sse-tls ×", "sse-h2-tls ×", "ws ×", "stream ×", "poll ×"] {
            #expect(lines.contains { $0.hasPrefix(transport) }, "no \(transport) rows")
        }
        let json = try await run(Self.binary, ["check", "--events", "20", "--only", "drop", "--json"])
        let rows = json.stdout.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
        #expect(rows.count == 7)
        #expect(rows.allSatisfy { $0["result"]?.string == "PASS" && $0["lost"] == .number(0) })
    }

    @Test func rejectsBadArguments() async throws {
        let result = try await run(Self.binary, ["serve", "--port", "70000"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--port must be in 0...65535"))
    }

    /// Each fuzz target's seed corpus replays cleanly through the same harness libFuzzer drives.
    @Test(arguments: ["http1", "websocket", "sse", "ai"])
    func fuzzCorpusReplays(_ target: String) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let corpus = root.appendingPathComponent("FuzzCorpus/\(target)")
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted().map { corpus.appendingPathComponent($0).path }
        #expect(files.count >= 4)
        var environment = ProcessInfo.processInfo.environment
        environment["SLUICE_FUZZ_TARGET"] = target
        let process = try ChildProcess(URL(fileURLWithPath: Self.binary).deletingLastPathComponent().appendingPathComponent("SluiceFuzz").path,
                                       files, environment: environment, stderr: .discard)
        let (output, status) = try await blocking { () -> (String, Int32) in
            (String(decoding: process.readStdoutToEnd(), as: UTF8.self), process.wait())
        }
        #expect(status == 0)
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == files.count)
    }
}

/// A small recorded stream for the command-line replay.
enum AccumulatorFixtures {
    static let anthropic = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_1","model":"c","usage":{"input_tokens":3}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

        event: message_stop
        data: {"type":"message_stop"}


        """
}
