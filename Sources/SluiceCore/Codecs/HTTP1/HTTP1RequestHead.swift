/// A request line and header block as they arrived, before any routing.
public struct HTTP1RequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent (origin form, e.g. `/sse?count=3`).
    public var target: String
    public var versionMajor: Int
    public var versionMinor: Int
    /// Header fields in arrival order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The connection stays open after this exchange (HTTP/1.1 default, or `Connection: keep-alive`).
    public var keepAlive: Bool
    /// The client asked to switch protocols (`Upgrade` with `Connection: upgrade`).
    public var isUpgrade: Bool

    public init(
        method: String, target: String, versionMajor: Int = 1, versionMinor: Int = 1,
        headers: [(name: String, value: String)] = [], keepAlive: Bool = true, isUpgrade: Bool = false
    ) {
        self.method = method
        self.target = target
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.headers = headers
        self.keepAlive = keepAlive
        self.isUpgrade = isUpgrade
    }

    /// The first value of a header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.method == b.method && a.target == b.target && a.versionMajor == b.versionMajor
            && a.versionMinor == b.versionMinor && a.keepAlive == b.keepAlive && a.isUpgrade == b.isUpgrade
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}
