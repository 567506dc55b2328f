#if canImport(Glibc)
import Glibc
#endif

/// A numeric IPv4 or IPv6 address with a port, as the `sockaddr` that `connect` and libevent take.
/// Names are not resolved here (that is evdns's job); `nil` for anything but a literal address.
///
/// ```swift
/// let address = NumericAddress(host: "::1", port: 8080)!
/// address.withSockaddr { bufferevent_socket_connect(bev, $0, $1) }
/// ```
public struct NumericAddress: Sendable {
    private var storage = sockaddr_storage()
    public private(set) var length: Int32 = 0

    public init?(host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: v4) { target.copyMemory(from: $0) } }
            length = Int32(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: v6) { target.copyMemory(from: $0) } }
            length = Int32(MemoryLayout<sockaddr_in6>.size)
        } else {
            return nil
        }
    }

    /// Calls `body` with the address and its length.
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, Int32) throws -> Result) rethrows -> Result {
        try withUnsafePointer(to: storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
