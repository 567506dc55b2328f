/// Where a transport connects: parsed from an `http`, `https`, `ws` or `wss` URL.
public struct ClientEndpoint: Sendable, Equatable {
    public var secure: Bool
    public var host: String
    public var port: Int
    /// Path and query, e.g. `/sse?count=3`.
    public var target: String

    /// `nil` for anything but an absolute http(s)/ws(s) URL.
    public init?(url: String) {
        let schemes = ["http://": false, "ws://": false, "https://": true, "wss://": true]
        guard let (prefix, secure) = schemes.first(where: { url.lowercased().hasPrefix($0.key) }) else { return nil }
        let rest = url.dropFirst(prefix.count)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        var host = Substring(authority)
        var port = secure ? 443 : 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]) else { return nil }
            port = p
            host = host[..<colon]
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.secure = secure
        self.host = String(host)
        self.port = port
        self.target = target
    }

    /// The `Host` header value.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? h : "\(h):\(port)"
    }
}

/// The HTTP version a transport speaks.
public enum HTTPVersion: String, Sendable, Equatable {
    case http1 = "http/1.1"
    /// Prior knowledge over `http`, ALPN `h2` over `https`.
    case http2 = "h2"
}
