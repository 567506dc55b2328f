import HTTPTypes
import SluiceCore

/// The faults a request asks for, from query parameters or `X-Sluice-Fault-<Name>` headers (for
/// clients that cannot change the URL: `drop_after` → `X-Sluice-Fault-Drop-After`). Only servers
/// with ``ServerConfiguration/faultInjection`` on honour them (`sluice serve` does). Every value is
/// range-checked (a bad one is a 400) and every random choice comes from `seed` (default: a hash of
/// the request target and `Last-Event-ID`, plus the request's number).
///
/// Per write (an SSE event, a body chunk, a WebSocket frame): `drop_after=N` cuts the response after
/// N writes (HTTP/1.1 closes, HTTP/2 resets the stream, or with `drop=goaway` ends the whole
/// connection with GOAWAY), `drop_rate=P` before a write with probability P; `stall_after=N&stall_ms=T` stops writing for
/// T ms; `drip_bytes=B` sends each write in B-byte pieces; `chaos=P` picks one of drop, stall, drip
/// or corrupt with probability P per write. Before the response: `delay_first_ms=T`,
/// `status=CODE` (`retry_after=S` on 429/503), `auth=TOKEN` (401 without `Authorization: Bearer
/// TOKEN` or `x-api-key: TOKEN`). `buffer=1` holds the whole response (head too) until it ends or `buffer_bytes` (1 MiB)
/// pile up, like a buffering proxy. SSE only: `line_ending=lf|crlf|cr`, `bom=1`, `corrupt=P` (a
/// malformed line, which clients must skip, before an event with probability P). Link faults for any
/// response: `latency_ms` and `jitter_ms` before each write, `bandwidth` (bytes/s).
struct FaultPlan: Sendable {
    var seed: UInt64 = 1
    var dropAfter: Int?
    var dropRate = 0.0
    /// How a drop looks on HTTP/2: the stream reset, or the whole connection gone (GOAWAY).
    var dropMode: DropMode = .reset

    enum DropMode: String { case reset = "rst", goaway }
    var stallAfter: Int?
    var stallMs = 10_000
    var delayFirstMs = 0
    var status: Int?
    var retryAfter: Int?
    var auth: String?
    var buffer = false
    var bufferBytes = 1 << 20
    var dripBytes: Int?
    var lineEnding: LineEnding = .lf
    var bom = false
    var corrupt = 0.0
    var chaos = 0.0
    var latencyMs = 0
    var jitterMs = 0
    var bandwidth: Int?

    enum LineEnding: String { case lf, crlf, cr }

    static let names = [
        "seed", "drop_after", "drop_rate", "drop", "stall_after", "stall_ms", "delay_first_ms", "status", "retry_after", "auth", "buffer",
        "buffer_bytes", "drip_bytes", "line_ending", "bom", "corrupt", "chaos", "latency_ms", "jitter_ms", "bandwidth",
    ]

    /// The plan of a request; nil when it asks for no fault.
    static func parse(_ request: Request) throws -> FaultPlan? {
        let read = RequestKnobs(request, headerPrefixes: ["X-Sluice-Fault-"], what: "fault")
        guard !read.isEmpty, names.contains(where: { $0 != "seed" && read.text($0) != nil }) else { return nil }
        var plan = FaultPlan()
        // Without `seed`, the request and its number seed the faults: a retried request meets new
        // luck (else a dropped long poll would be dropped again forever), and one client's sequence of
        // requests replays the same way against a fresh server.
        plan.seed = try read.int("seed", 0...Int(Int32.max)).map(UInt64.init)
            ?? Self.fingerprint(request) &+ requestNumber.withLock { n in n += 1; return n }
        plan.dropAfter = try read.int("drop_after", 0...100_000_000)
        plan.dropRate = try read.probability("drop_rate") ?? 0
        if let text = read.text("drop") {
            guard let mode = DropMode(rawValue: text) else { throw HTTPError(.badRequest, "drop is rst or goaway") }
            plan.dropMode = mode
        }
        plan.stallAfter = try read.int("stall_after", 0...100_000_000)
        plan.stallMs = try read.int("stall_ms", 0...600_000) ?? plan.stallMs
        plan.delayFirstMs = try read.int("delay_first_ms", 0...600_000) ?? 0
        plan.status = try read.int("status", 200...599)
        plan.retryAfter = try read.int("retry_after", 0...86_400)
        plan.auth = read.text("auth")
        plan.buffer = try read.int("buffer", 0...1) == 1
        plan.bufferBytes = try read.int("buffer_bytes", 1...(64 << 20)) ?? plan.bufferBytes
        plan.dripBytes = try read.int("drip_bytes", 1...(1 << 20))
        if let text = read.text("line_ending") {
            guard let ending = LineEnding(rawValue: text) else { throw HTTPError(.badRequest, "line_ending is lf, crlf or cr") }
            plan.lineEnding = ending
        }
        plan.bom = try read.int("bom", 0...1) == 1
        plan.corrupt = try read.probability("corrupt") ?? 0
        plan.chaos = try read.probability("chaos") ?? 0
        plan.latencyMs = try read.int("latency_ms", 0...60_000) ?? 0
        plan.jitterMs = try read.int("jitter_ms", 0...60_000) ?? 0
        plan.bandwidth = try read.int("bandwidth", 1...(1 << 40))
        return plan
    }

    /// Requests with faults so far, process-wide.
    private static let requestNumber = Locked<UInt64>(0)

    /// FNV-1a over the request target and `Last-Event-ID`.
    static func fingerprint(_ request: Request) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in Array((request.head.path ?? "").utf8) + Array((request.lastEventID ?? "").utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The answer that replaces the route's (status, auth), if any.
    func refusal(for request: Request) -> Response? {
        let fields = request.head.headerFields
        if let auth, fields[.authorization] != "Bearer \(auth)" && fields[HTTPField.Name("x-api-key")!] != auth {
            return Response(status: .unauthorized, headers: [.contentType: "application/json", .wwwAuthenticate: "Bearer"],
                            body: Array("{\"error\":\"unauthorized\"}\n".utf8))
        }
        guard let status else { return nil }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter, status == 429 || status == 503 { headers[.retryAfter] = String(retryAfter) }
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: Array("{\"error\":\"injected status \(status)\"}\n".utf8))
    }
}

/// A response cut short on purpose (`drop_after`, `chaos`): ends the handler quietly.
struct InjectedDrop: Error {
    /// Waits (at most 5 s) until what was written before the drop has left the queue, so the peer
    /// gets it before the cut: an HTTP/2 reset would discard DATA still queued.
    static func letPendingOut(_ sink: ResponseSink) async {
        let deadline = ContinuousClock.now + .seconds(5)
        while sink.pendingBytes > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
}
