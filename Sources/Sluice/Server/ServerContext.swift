import HTTPTypes
import SluiceCore

/// What every connection of one server shares: configuration, routes and the headers every
/// response carries. Immutable, so any loop may read it.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let router: Router
    /// Date and Server, appended by the encoders to every response head.
    let serverFields: ServerFields
    /// Adds the CORS headers, when the server has a policy.
    let decorate: (@Sendable (inout HTTPFields) -> Void)?

    init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
        serverFields = ServerFields(serverName: configuration.serverName)
        if let cors = configuration.cors {
            decorate = { fields in cors.apply(to: &fields) }
        } else {
            decorate = nil
        }
    }

    /// The handler for a request: a route's, or one answering 404, 405 (with `Allow`) or OPTIONS.
    func route(_ request: Request) -> (handler: Router.Handler, parameters: [String: String]) {
        let method = request.method  // read once: each read makes the Method from the head's field
        if method == .options {
            let allow = request.head.path == "*" ? [] : router.methods(at: request.path)
            if !router.hasExplicitOptions(at: request.path) {
                let response = optionsResponse(request, allow: allow)
                return (.immediate({ _ in response }), [:])
            }
        }
        // RFC 8441: an extended CONNECT for a WebSocket is routed like the HTTP/1.1 GET it replaces.
        let isWebSocketConnect = method == .connect && request.head.extendedConnectProtocol == "websocket"
        switch router.match(method: isWebSocketConnect ? .get : method, path: request.path) {
        case .found(let handler, let parameters):
            return (handler, parameters)
        case .methodNotAllowed(let allow):
            let error = HTTPError(
                .methodNotAllowed, "method \(method.rawValue) not allowed",
                headers: [.allow: allow.map(\.rawValue).joined(separator: ", ")])
            return (.immediate({ _ in throw error }), [:])
        case .notFound:
            let error = HTTPError(.notFound, "no route for \(request.path)")
            return (.immediate({ _ in throw error }), [:])
        }
    }

    private func optionsResponse(_ request: Request, allow: [HTTPRequest.Method]) -> Response {
        let methods = allow.isEmpty ? [.get, .head, .post, .options] : allow + [.options]
        if let cors = configuration.cors, request.head.headerFields.contains(.accessControlRequestMethod) {
            let head = cors.preflight(request: request.head, allow: methods)
            return Response(status: head.status, headers: head.headerFields)
        }
        return Response(status: .noContent, headers: [.allow: methods.map(\.rawValue).joined(separator: ", ")])
    }
}

extension Router {
    func hasExplicitOptions(at path: Substring) -> Bool {
        if case .found = match(method: .options, path: path) { return true }
        return false
    }
}
