import COpenSSL

/// TLS for client transports: certificate and hostname verification against the system trust
/// store (or a CA file for tests), SNI, and ALPN `http/1.1`. The class owns its `SSL_CTX`.
public final class ClientTLS: @unchecked Sendable {
    let context: OpaquePointer
    let verify: Bool

    public enum Error: Swift.Error, CustomStringConvertible {
        case setup(String)
        public var description: String { switch self { case .setup(let what): "TLS: \(what)" } }
    }

    /// - Parameters:
    ///   - caFile: PEM certificates to trust instead of the system store (e.g. a test server's own).
    ///   - insecure: skip verification entirely (development only; `--insecure`).
    public init(caFile: String? = nil, insecure: Bool = false) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Error.setup("SSL_CTX_new failed") }
        self.context = context
        verify = !insecure
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else { throw Error.setup("cannot load CA file \(caFile)") }
        } else {
            SSL_CTX_set_default_verify_paths(context)
        }
        SSL_CTX_set_verify(context, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nil)
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        SSL_CTX_set_alpn_protos(context, alpn, UInt32(alpn.count))
    }

    deinit { SSL_CTX_free(context) }

    /// A new `SSL` for one connection to `host`, with SNI and hostname checks set. The caller hands
    /// it to a bufferevent, which frees it.
    func makeSSL(host: String, alpn: String? = nil) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        if let alpn {
            let protocols: [UInt8] = [UInt8(alpn.utf8.count)] + Array(alpn.utf8)
            SSL_set_alpn_protos(ssl, protocols, UInt32(protocols.count))
        }
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        if !isAddress {
            // SSL_set_tlsext_host_name is a macro over SSL_ctrl (SSL_CTRL_SET_TLSEXT_HOSTNAME = 55,
            // TLSEXT_NAMETYPE_host_name = 0).
            _ = host.withCString { SSL_ctrl(ssl, 55, 0, UnsafeMutableRawPointer(mutating: $0)) }
        }
        if verify {
            if isAddress {
                _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
            } else {
                SSL_set1_host(ssl, host)
            }
        }
        return ssl
    }
}
