#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client for exact-byte tests. Use it inside ``blocking(_:)``.
final class RawClient: @unchecked Sendable {
    let fd: Int32

    /// - Parameters:
    ///   - receiveBuffer: a small SO_RCVBUF makes a slow reader's window fill quickly.
    ///   - timeout: seconds a read waits; only a failing test waits it out. In the parallel run the two
    ///     cooperative threads are busy for seconds at a time, and answers that need them came after 5 s.
    init(host: String = "127.0.0.1", port: Int, receiveBuffer: Int32? = nil, timeout: Int = 30) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure("connect to \(host):\(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Up to `max` bytes — first any that arrived behind the last response read — empty at end of
    /// stream; throws on timeout.
    func read(max: Int = 65536) throws -> [UInt8] {
        if !pending.isEmpty {
            let taken = Array(pending.prefix(max))
            pending.removeFirst(taken.count)
            return taken
        }
        return try receive(max: max)
    }

    private func receive(max: Int = 65536) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        if n < 0 {
            if errno == ECONNRESET { return [] }
            throw TestFailure("recv failed or timed out: errno \(errno)")
        }
        return Array(buffer[..<n])
    }

    /// Everything until the server closes.
    func readToEnd() throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let chunk = try read()
            if chunk.isEmpty { return out }
            out += chunk
        }
    }

    private var pending: [UInt8] = []

    /// Reads one whole response (Content-Length, chunked, or to the end).
    func readResponse(headRequest: Bool = false) throws -> HTTPTestResponse {
        while findHeadEnd() == nil {
            let chunk = try receive()
            if chunk.isEmpty { throw TestFailure("closed before a response head; got \(String(decoding: pending, as: UTF8.self))") }
            pending += chunk
        }
        let end = findHeadEnd()!
        let headText = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end + 4)
        var response = HTTPTestResponse(head: headText)
        if headRequest || response.status == 204 || response.status == 304 { return response }
        if let length = response.header("content-length").flatMap({ Int($0) }) {
            try fill(length)
            response.body = Array(pending[..<length])
            pending.removeFirst(length)
        } else if response.header("transfer-encoding") == "chunked" {
            while true {
                let line = try readLine()
                guard let size = Int(line.split(separator: ";")[0], radix: 16) else { throw TestFailure("bad chunk size \(line)") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                try fill(size + 2)
                response.body += pending[..<size]
                pending.removeFirst(size + 2)
            }
        } else {
            let early = pending
            pending = []
            response.body = early + (try readToEnd())
        }
        return response
    }

    private func findHeadEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for i in 0...(pending.count - 4) where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func fill(_ count: Int) throws {
        while pending.count < count {
            let chunk = try receive()
            if chunk.isEmpty { throw TestFailure("closed mid-body") }
            pending += chunk
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<i], as: UTF8.self).trimmingCharacters(in: "\r")
                pending.removeFirst(i + 1)
                return line
            }
            let chunk = try receive()
            if chunk.isEmpty { throw TestFailure("closed mid-line") }
            pending += chunk
        }
    }
}

struct HTTPTestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8] = []

    init(head: String) {
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ")
        status = statusParts.count > 1 ? Int(statusParts[1]) ?? 0 : 0
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " "))
        }
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
