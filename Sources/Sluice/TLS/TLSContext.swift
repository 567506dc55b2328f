import COpenSSL
import CSluiceShims

/// A server TLS context (OpenSSL `SSL_CTX`): certificate and key, TLS 1.2 or newer, and ALPN
/// choosing `h2` over `http/1.1`. The class owns the `SSL_CTX` and frees it.
///
/// One context per certificate; serving several names (SNI) means choosing among contexts in the
/// servername callback, which this type is shaped for but does not do yet.
///
/// ```swift
/// let tls = try TLSContext(certificateChainFile: "cert.pem", privateKeyFile: "key.pem")
/// let dev = try TLSContext.selfSigned()          // print(dev.fingerprint)
/// configuration.tls = dev
/// ```
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// SHA-256 of the certificate (DER), as colon-separated hex, for pinning or a quick look.
    public private(set) var fingerprint: String = ""

    public enum Error: Swift.Error, CustomStringConvertible {
        case openssl(String)
        public var description: String {
            switch self { case .openssl(let what): "TLS: \(what): \(TLSContext.lastError())" }
        }
    }

    private init() throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw Error.openssl("SSL_CTX_new") }
        self.context = context
        guard sluice_ssl_ctx_set_min_tls12(UnsafeMutableRawPointer(context)) == 1 else { throw Error.openssl("minimum TLS 1.2") }
        // No TLS compression (CRIME), no renegotiation by clients.
        SSL_CTX_set_options(context, UInt64(sluice_ssl_server_options()))
        SSL_CTX_set_alpn_select_cb(context, { _, out, outLength, offered, offeredLength, _ in
            TLSContext.selectALPN(out, outLength, offered, offeredLength)
        }, nil)
    }

    /// Loads a PEM certificate chain (leaf first) and its private key.
    public convenience init(certificateChainFile: String, privateKeyFile: String) throws {
        try self.init()
        guard SSL_CTX_use_certificate_chain_file(context, certificateChainFile) == 1 else {
            throw Error.openssl("cannot load certificate chain \(certificateChainFile)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            throw Error.openssl("cannot load private key \(privateKeyFile)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else { throw Error.openssl("key does not match certificate") }
        if let cert = SSL_CTX_get0_certificate(context) {
            var digest = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 32
            X509_digest(cert, EVP_sha256(), &digest, &length)
            fingerprint = Self.hex(digest)
        }
    }

    /// A fresh self-signed P-256 certificate made in memory, for development: clients need `-k` or
    /// the fingerprint.
    public static func selfSigned(commonName: String = "localhost") throws -> TLSContext {
        let tls = try TLSContext()
        var digest = [UInt8](repeating: 0, count: 32)
        guard sluice_ssl_ctx_use_self_signed(UnsafeMutableRawPointer(tls.context), commonName, &digest) == 1 else {
            throw Error.openssl("self-signed certificate")
        }
        tls.fingerprint = hex(digest)
        return tls
    }

    deinit { SSL_CTX_free(context) }

    /// Prefers `h2`, then `http/1.1`; with neither offered, the handshake goes on without ALPN (HTTP/1.1).
    private static func selectALPN(
        _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
        _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32
    ) -> Int32 {
        guard let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
        for wanted in ["h2", "http/1.1"] {
            var i = 0
            while i < Int(offeredLength) {
                let length = Int(offered[i])
                let start = i + 1
                if start + length > Int(offeredLength) { break }
                let name = UnsafeBufferPointer(start: offered + start, count: length)
                if name.elementsEqual(wanted.utf8) {
                    out.pointee = offered + start
                    outLength.pointee = UInt8(length)
                    return SSL_TLSEXT_ERR_OK
                }
                i = start + length
            }
        }
        return SSL_TLSEXT_ERR_NOACK
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let s = String(b, radix: 16, uppercase: true)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: ":")
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no OpenSSL error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
