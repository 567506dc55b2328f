import SluiceCore

/// One whole HTTP/1.1 exchange (request out, status and complete body in) over its own connection:
/// what a long poll or a publish needs. Cancelling the calling task closes the connection.
///
/// ```swift
/// let answer = try await HTTP1Fetch.send(method: "POST", url: "http://127.0.0.1:8080/channels/news",
///                                        body: Array("hello".utf8), loop: loop)
/// print(answer.status)
/// ```
public enum HTTP1Fetch {
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [HTTP1Header]
        public var body: [UInt8]
    }

    public struct FetchError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Sends one request to `url` and returns the whole answer (at most `maxBody` bytes of body).
    public static func send(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        tls: ClientTLS? = nil, maxBody: Int = 16 << 20, loop: EventLoop
    ) async throws(FetchError) -> Answer {
        guard let endpoint = ClientEndpoint(url: url) else { throw FetchError(message: "not an http(s) URL: \(url)") }
        let tls = tls ?? (endpoint.secure ? try? ClientTLS() : nil)
        return try await exchange(loop: loop, endpoint: endpoint, method: method, target: endpoint.target, headers: headers,
                                  body: body, tls: tls, maxBody: maxBody).get()
    }

    static func get(
        loop: EventLoop, endpoint: ClientEndpoint, target: String, headers: [(name: String, value: String)], tls: ClientTLS?,
        maxBody: Int
    ) async -> Result<Answer, FetchError> {
        await exchange(loop: loop, endpoint: endpoint, method: "GET", target: target, headers: headers, body: [], tls: tls, maxBody: maxBody)
    }

    static func exchange(
        loop: EventLoop, endpoint: ClientEndpoint, method: String, target: String, headers: [(name: String, value: String)],
        body requestBody: [UInt8], tls: ClientTLS?, maxBody: Int
    ) async -> Result<Answer, FetchError> {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\nAccept: application/json\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !requestBody.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(requestBody.count)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8) + requestBody
        let holder = Locked<UnsafeSendable<HTTP1ClientConnection>?>(nil)
        let gate = Locked<(CheckedContinuation<Result<Answer, FetchError>, Never>?, Result<Answer, FetchError>?)>((nil, nil))
        let finish: @Sendable (Result<Answer, FetchError>) -> Void = { result in
            let waiting = gate.withLock { g -> CheckedContinuation<Result<Answer, FetchError>, Never>? in
                guard g.1 == nil else { return nil }
                g.1 = result
                defer { g.0 = nil }
                return g.0
            }
            waiting?.resume(returning: result)
        }
        loop.execute {
            var status = 0
            var fields: [HTTP1Header] = []
            var body: [UInt8] = []
            let connection = HTTP1ClientConnection(loop: loop, endpoint: endpoint, request: request, tls: tls) { event in
                switch event {
                case .connected: break
                case .head(let s, let h):
                    status = s
                    fields = h
                case .body(let bytes):
                    body += bytes
                    if body.count > maxBody {
                        finish(.failure(FetchError(message: "answer longer than \(maxBody) bytes")))
                        holder.withLock { $0?.value.close() }
                    }
                case .end:
                    finish(.success(Answer(status: status, headers: fields, body: body)))
                    holder.withLock { $0?.value.close() }
                case .failed(let reason):
                    finish(.failure(FetchError(message: reason)))
                    // Closing drops this callback, which holds the connection: no cycle, no socket left.
                    holder.withLock { $0?.value.close() }
                }
            }
            holder.withLock { $0 = UnsafeSendable(connection) }
            connection.start()
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Result<Answer, FetchError>, Never>) in
                let ready = gate.withLock { g -> Result<Answer, FetchError>? in
                    if let done = g.1 { return done }
                    g.0 = c
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            finish(.failure(FetchError(message: "cancelled")))
            loop.execute { holder.withLock { $0?.value.close(); $0 = nil } }
        }
    }

}
