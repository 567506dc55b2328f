import HTTPTypes
import SluiceCore

/// Whether a request may become a WebSocket on a route: origin check, then the handshake.
/// The HTTP/1.1 connection asks before switching to raw bytes; the handler runner asks again to
/// answer, so both always agree.
enum WebSocketRoute {
    static func decide(
        _ request: Request, options makeOptions: @Sendable (Request) throws -> WebSocketOptions
    ) -> Result<(WebSocketHandshake.Agreement, WebSocketOptions), HTTPError> {
        let options: WebSocketOptions
        do {
            options = try makeOptions(request)
        } catch let error as HTTPError {
            return .failure(error)
        } catch {
            return .failure(HTTPError(.badRequest, "\(error)"))
        }
        if let allow = options.allowOrigin, !allow(request.head.headerFields[.origin]) {
            return .failure(HTTPError(.forbidden, "origin not allowed"))
        }
        let result = request.method == .connect
            ? WebSocketHandshake.acceptExtendedConnect(request.head, subprotocols: options.subprotocols, allowDeflate: options.compression)
            : WebSocketHandshake.accept(request.head, subprotocols: options.subprotocols, allowDeflate: options.compression)
        return result.map { ($0, options) }.mapError { HTTPError($0.status, $0.message, headers: $0.headers) }
    }
}
