import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// Field names as nghttp2 hands them over: bytes already checked (lowercase, legal, no
/// connection-specific fields). The names most requests carry come from a table without making a
/// String; others are made once and validated once (`init(parsed:)` keeps one String for the raw
/// and the canonical name). Making two Strings per field and validating each name was ~5% of a
/// small request.
enum HTTP2FieldNames {
    /// The request pseudo-header fields a server reads.
    enum Pseudo { case method, scheme, authority, path, `protocol`, other }

    static func pseudo(_ name: UnsafeBufferPointer<UInt8>) -> Pseudo {
        switch name.count {
        case 5 where equal(name, ":path"): .path
        case 7 where equal(name, ":method"): .method
        case 7 where equal(name, ":scheme"): .scheme
        case 9 where equal(name, ":protocol"): .protocol
        case 10 where equal(name, ":authority"): .authority
        default: .other
        }
    }

    /// The field name for regular (not pseudo) field name bytes, or nil if HTTPTypes refuses it.
    static func name(_ bytes: UnsafeBufferPointer<UInt8>) -> HTTPField.Name? {
        for known in common where known.canonicalName.utf8.count == bytes.count {
            if known.canonicalName.utf8.withContiguousStorageIfAvailable({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) == true {
                return known
            }
        }
        return HTTPField.Name(parsed: String(decoding: bytes, as: UTF8.self))
    }

    private static let common: [HTTPField.Name] = [
        .userAgent, .accept, .acceptEncoding, .acceptLanguage, .contentType, .contentLength, .cacheControl,
        .cookie, .authorization, .origin, .referer, .ifNoneMatch, .ifModifiedSince, .range, .te,
        .secWebSocketVersion, .secWebSocketProtocol, .secWebSocketExtensions, HTTPField.Name("Last-Event-ID")!,
    ]

    private static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && memcmp(bytes.baseAddress!, text.utf8Start, bytes.count) == 0
    }
}
