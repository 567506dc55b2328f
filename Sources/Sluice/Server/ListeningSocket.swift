import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// Binds the listening sockets for a host and port: every address the host resolves to, all on
/// the same port (the kernel's pick for port 0 is reused for the other addresses).
enum ListeningSocket {
    struct Bound {
        var fd: Int32
        var address: String
        var port: Int
    }

    enum BindError: Error, CustomStringConvertible {
        case resolve(String, String)
        case system(String, Int32)
        var description: String {
            switch self {
            case .resolve(let host, let why): "cannot resolve \(host): \(why)"
            case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
            }
        }
    }

    static func bind(host: String, port: Int, backlog: Int32) throws -> [Bound] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else { throw BindError.resolve(host, String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }

        var bound: [Bound] = []
        var chosenPort = port
        var seen = Set<String>()
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        do {
            while let info = cursor {
                cursor = info.pointee.ai_next
                let family = info.pointee.ai_family
                guard family == AF_INET || family == AF_INET6 else { continue }
                var storage = sockaddr_storage()
                memcpy(&storage, info.pointee.ai_addr, Int(info.pointee.ai_addrlen))
                setPort(&storage, chosenPort)
                let name = describe(&storage).host
                guard seen.insert(name).inserted else { continue }
                let fd = try open(&storage, length: info.pointee.ai_addrlen, family: family, backlog: backlog)
                let actual = describe(&storage)
                chosenPort = actualPort(fd)
                bound.append(Bound(fd: fd, address: actual.host, port: chosenPort))
            }
        } catch {
            for b in bound { Glibc.close(b.fd) }
            throw error
        }
        if bound.isEmpty { throw BindError.resolve(host, "no IPv4 or IPv6 address") }
        return bound
    }

    private static func open(_ storage: inout sockaddr_storage, length: socklen_t, family: Int32, backlog: Int32) throws -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BindError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // Keep the IPv6 socket to IPv6 so the IPv4 address can be bound beside it.
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let ok = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard ok == 0 else {
            let code = errno
            Glibc.close(fd)
            throw BindError.system("bind", code)
        }
        guard listen(fd, backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw BindError.system("listen", code)
        }
        _ = evutil_make_socket_nonblocking(fd)
        return fd
    }

    private static func setPort(_ storage: inout sockaddr_storage, _ port: Int) {
        withUnsafeMutablePointer(to: &storage) { raw in
            if raw.pointee.ss_family == sa_family_t(AF_INET) {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port = in_port_t(UInt16(port).bigEndian) }
            } else {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port = in_port_t(UInt16(port).bigEndian) }
            }
        }
    }

    private static func actualPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        return describe(&storage).port
    }

    /// Numeric host and port of a socket address.
    static func describe(_ storage: UnsafePointer<sockaddr>, length: socklen_t) -> (host: String, port: Int) {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        getnameinfo(storage, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
        return (cString(host), Int(cString(service)) ?? 0)
    }

    static func describe(_ storage: inout sockaddr_storage) -> (host: String, port: Int) {
        withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                describe($0, length: socklen_t(MemoryLayout<sockaddr_storage>.size))
            }
        }
    }

    private static func cString(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `host:port`, with IPv6 hosts in brackets as in a URL.
    static func format(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
