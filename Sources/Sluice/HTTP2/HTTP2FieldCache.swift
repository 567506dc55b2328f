import CNGHTTP2
import HTTPTypes

/// Request fields already decoded on this connection, found again by nghttp2's reference-counted
/// buffers (``HTTP2BufferPair``): an HPACK-indexed field (every field of a client's repeated
/// requests, after the first) arrives as the very buffers of its dynamic-table entry, and a
/// static-table field as a static buffer. Each entry holds a reference to both.
/// A hit costs a retain instead of a String made, validated and (for regular fields) legalized by
/// HTTPTypes: ~3% more 100-byte h2 requests a second (median of 8 alternating pairs).
///
/// Bounded: `capacity` entries (replaced in turn), values of up to `maxValueBytes` only. Confined to
/// the connection's loop, as nghttp2's buffers are.
final class HTTP2FieldCache {
    /// One decoded field.
    enum Decoded {
        case method(HTTPRequest.Method?)
        case scheme(String)
        case authority(String)
        case path(String)
        case connectProtocol(String)
        case field(HTTPField)
        /// Refused by HTTPTypes, or a pseudo-header a server does not read.
        case ignored

        var isPath: Bool { if case .path = self { true } else { false } }
    }

    static let capacity = 32
    static let maxValueBytes = 512
    // Loop-confined, and no access to them overlaps another: the runtime's exclusivity checks on
    // every lookup were ~1.5% of a small HTTP/2 request.
    @exclusivity(unchecked) private var keys: [HTTP2BufferPair] = []
    @exclusivity(unchecked) private var decoded: [Decoded] = []
    @exclusivity(unchecked) private var nextVictim = 0
    /// The buffer the last `:path` name came in (HPACK's static entry, as a rule), a reference held:
    /// a path, new each request, is known by it without the scan of `keys`.
    @exclusivity(unchecked) private var pathName: OpaquePointer?

    /// The decoded field for nghttp2's name and value buffers.
    func decode(_ key: HTTP2BufferPair) -> Decoded {
        if key.name == pathName { return .path(String(decoding: key.valueBytes, as: UTF8.self)) }
        if let index = keys.firstIndex(of: key) { return decoded[index] }
        let valueBytes = key.valueBytes
        let field = Self.decode(name: key.nameBytes, value: valueBytes)
        // A path is not kept: HPACK encoders leave `:path` out of their tables (nghttp2 never indexes
        // it), so its buffers are new each request and would only push out the fields that repeat.
        if field.isPath {
            nghttp2_rcbuf_incref(key.name)
            if let pathName { nghttp2_rcbuf_decref(pathName) }
            pathName = key.name
        } else if valueBytes.count <= Self.maxValueBytes {
            remember(key, field)
        }
        return field
    }

    private func remember(_ key: HTTP2BufferPair, _ field: Decoded) {
        key.retain()
        if keys.count < Self.capacity {
            if keys.isEmpty {
                keys.reserveCapacity(Self.capacity)
                decoded.reserveCapacity(Self.capacity)
            }
            keys.append(key)
            decoded.append(field)
            return
        }
        keys[nextVictim].release()
        keys[nextVictim] = key
        decoded[nextVictim] = field
        nextVictim = (nextVictim + 1) % Self.capacity
    }

    /// Lets go of every buffer held (before the session that made them goes).
    func removeAll() {
        for key in keys { key.release() }
        if let pathName { nghttp2_rcbuf_decref(pathName) }
        pathName = nil
        keys = []
        decoded = []
        nextVictim = 0
    }

    deinit { removeAll() }

    /// Decodes a field nghttp2 has checked (names lowercase and legal, no connection-specific fields,
    /// only known request pseudo-headers).
    static func decode(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Decoded {
        guard let first = name.first else { return .ignored }
        guard first == UInt8(ascii: ":") else {
            return HTTP2FieldNames.name(name).map { .field(HTTPField(name: $0, value: value)) } ?? .ignored
        }
        let text = String(decoding: value, as: UTF8.self)
        return switch HTTP2FieldNames.pseudo(name) {
        case .method: .method(HTTPRequest.Method(text))
        case .scheme: .scheme(text)
        case .authority: .authority(text)
        case .path: .path(text)
        case .protocol: .connectProtocol(text)
        case .other: .ignored
        }
    }
}
