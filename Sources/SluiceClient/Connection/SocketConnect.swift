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
        if let address = NumericAddress(host: endpoint.host, port: endpoint.port) {
            let rc = address.withSockaddr { bufferevent_socket_connect(bev, $0, $1) }
            return rc == 0 ? nil : "cannot connect to \(endpoint.authority): \(String(cString: strerror(errno)))"
        }
        if bufferevent_socket_connect_hostname(bev, loop.dnsBase, AF_UNSPEC, endpoint.host, Int32(endpoint.port)) != 0 {
            return "cannot connect to \(endpoint.authority)"
        }
        return nil
    }
}
