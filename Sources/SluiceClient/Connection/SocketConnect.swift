import CLibevent
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// Starts a bufferevent's connection to an endpoint.
///
/// A numeric address is connected directly and an immediate failure (e.g. EADDRNOTAVAIL when
/// ephemeral ports run out) is returned at once: libevent 2.1's `bufferevent_socket_connect_hostname`
/// drops the result of the connect it makes after resolving (libevent issues #597/#1100), so such an
/// attempt would hear nothing until the connect timeout. Names still go through evdns.
enum SocketConnect {
    /// Nil when connecting has begun (the bufferevent's event callback reports the outcome); else why
    /// it failed at once.
    static func start(_ bev: OpaquePointer, endpoint: ClientEndpoint, loop: EventLoop) -> String? {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        if numericAddress(endpoint.host, port: endpoint.port, into: &storage, length: &length) {
            let rc = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bufferevent_socket_connect(bev, $0, Int32(length)) }
            }
            return rc == 0 ? nil : "cannot connect to \(endpoint.authority): \(String(cString: strerror(errno)))"
        }
        if bufferevent_socket_connect_hostname(bev, loop.dnsBase, AF_UNSPEC, endpoint.host, Int32(endpoint.port)) != 0 {
            return "cannot connect to \(endpoint.authority)"
        }
        return nil
    }

    private static func numericAddress(_ host: String, port: Int, into storage: inout sockaddr_storage, length: inout socklen_t) -> Bool {
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: v4) { target.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            return true
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: v6) { target.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            return true
        }
        return false
    }
}
