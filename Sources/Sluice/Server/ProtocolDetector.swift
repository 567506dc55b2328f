import CLibevent
import COpenSSL
import SluiceCore

/// The first owner of every accepted socket: finds out which protocol the peer speaks, then hands
/// the bufferevent (with any bytes already read) to that protocol's connection.
///
/// - TLS: the handshake's ALPN answer decides (`h2`, else HTTP/1.1).
/// - Cleartext: the HTTP/2 connection preface (RFC 9113 §3.4) means prior-knowledge h2; anything
///   else that diverges from it is HTTP/1.1. Bytes are only peeked, never consumed.
final class ProtocolDetector: ServerConnection {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let loop: EventLoop
    private let remoteAddress: String
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private let tls: TLSContext?
    private var bev: OpaquePointer?
    /// Reads a plain socket (see `ReadThrough`); the connection taking over makes its own.
    private var reads: ReadThrough?
    private let timer: LoopTimer

    init(fd: Int32, remoteAddress: String, loop: EventLoop, context: ServerContext, registry: ConnectionRegistry, tls: TLSContext?) {
        self.loop = loop
        self.remoteAddress = remoteAddress
        self.context = context
        self.registry = registry
        self.tls = tls
        timer = LoopTimer(loop: loop)
        let options = Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)
        if let tls, let ssl = SSL_new(tls.context) {
            bev = bufferevent_openssl_socket_new(loop.base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, options)
        } else {
            bev = bufferevent_socket_new(loop.base, fd, options)
        }
        if let bev { BuffereventTuning.apply(bev) }
    }

    func start() {
        guard let bev else { return }
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            Unmanaged<ProtocolDetector>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, nil, { _, events, ctx in
            Unmanaged<ProtocolDetector>.fromOpaque(ctx!).takeUnretainedValue().event(events)
        }, me)
        // Nothing is written before the hand-off on a plain socket (the connection then decides how it
        // writes, see `WriteThrough`); OpenSSL writes its handshake.
        if tls == nil {
            reads = ReadThrough(bev)
            reads?.start()
        } else {
            bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        }
        // A peer that connects and says nothing (or never finishes its handshake) is dropped.
        let reason = tls == nil ? "no request" : "TLS handshake timeout"
        timer.schedule(after: tls == nil ? context.configuration.timeouts.idle : context.configuration.timeouts.requestHead) { [weak self] in
            self?.close(reason: reason)
        }
    }

    private func readable() {
        guard tls == nil, let bev else { return }  // with TLS, the handshake event decides
        let input = bufferevent_get_input(bev)
        let length = min(evbuffer_get_length(input), Self.preface.count)
        var head = [UInt8](repeating: 0, count: length)
        _ = head.withUnsafeMutableBytes { evbuffer_copyout(input, $0.baseAddress, length) }
        if head[...] != Self.preface[..<length] {
            handOff(http2: false)
        } else if length == Self.preface.count {
            handOff(http2: true)
        }
    }

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_CONNECTED) != 0, tls != nil, let bev {
            let ssl = bufferevent_openssl_get_ssl(bev)
            var protocolName: UnsafePointer<UInt8>?
            var length: UInt32 = 0
            SSL_get0_alpn_selected(ssl, &protocolName, &length)
            let alpn = protocolName.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
            handOff(http2: alpn == "h2")
        } else if events & Int16(BEV_EVENT_EOF | BEV_EVENT_ERROR) != 0 {
            close(reason: "closed during protocol detection")
        }
    }

    private func handOff(http2: Bool) {
        guard let bev else { return }
        self.bev = nil
        reads?.close()
        reads = nil
        timer.cancel()
        let scheme = tls == nil ? "http" : "https"
        if http2 {
            let h2 = HTTP2Connection(bev: bev, scheme: scheme, remoteAddress: remoteAddress, loop: loop, context: context, registry: registry)
            registry.replace(self, with: h2)
            h2.start()
        } else {
            let h1 = HTTP1Connection(bev: bev, scheme: scheme, remoteAddress: remoteAddress, loop: loop, context: context, registry: registry)
            registry.replace(self, with: h1)
            h1.start()
        }
    }

    func beginShutdown() { close(reason: "server shutting down") }

    func close(reason: String) {
        timer.cancel()
        if let bev {
            self.bev = nil
            reads?.close()
            bufferevent_free(bev)
        }
        let me = UnsafeSendable(self)
        loop.execute { me.value.registry.remove(me.value) }
    }
}
