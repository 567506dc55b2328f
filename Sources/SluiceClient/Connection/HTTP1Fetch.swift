import SluiceCore

/// One whole HTTP/1.1 exchange (request out, status and complete body in) over its own connection:
/// what a long poll needs. Cancelling the calling task closes the connection.
enum HTTP1Fetch {
    struct Answer: Sendable {
        var status: Int
        var headers: [HTTP1Header]
        var body: [UInt8]
    }

    static func get(
        loop: EventLoop, endpoint: ClientEndpoint, target: String, headers: [(name: String, value: String)], tls: ClientTLS?,
        maxBody: Int
    ) async -> Result<Answer, FetchError> {
        var head = "GET \(target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\nAccept: application/json\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8)
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

    struct FetchError: Error, Sendable {
        var message: String
    }
}
