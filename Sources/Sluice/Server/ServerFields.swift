import HTTPTypes
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// The fields every response carries: `Date` (an IMF-fixdate) and, when the server has a name,
/// `Server`. Made at most once a second and shared, so a response retains one array instead of
/// setting two fields (which copied each response's field storage: ~3% of a small response).
/// The encoders append them after a head's own fields, in place of the head's own Date or Server.
final class ServerFields: Sendable {
    private let serverName: String?
    private let cache = Locked(Cached(second: -1, fields: [], encoded: EncodedFields(HTTPFields())))

    /// This second's fields, as fields and as bytes.
    private struct Cached {
        var second: Int
        var fields: [HTTPField]
        var encoded: EncodedFields
    }

    init(serverName: String?) {
        self.serverName = serverName
    }

    var current: [HTTPField] { now { $0.fields } }

    /// The same fields laid out as bytes (``EncodedFields``), for HTTP/2's header block.
    var currentEncoded: EncodedFields { now { $0.encoded } }

    /// What `part` takes of this second's fields (only that is copied out of the lock).
    private func now<T>(_ part: (Cached) -> T) -> T {
        let t = time(nil)
        return cache.withLock { cached in
            if cached.second != t {
                var fields = [HTTPField(name: .date, value: Self.imfFixdate(t))]
                if let serverName { fields.append(HTTPField(name: .server, value: serverName)) }
                cached = Cached(second: t, fields: fields, encoded: EncodedFields(HTTPFields(fields)))
            }
            return part(cached)
        }
    }

    static func imfFixdate(_ t: time_t) -> String {
        var copy = t
        var parts = tm()
        gmtime_r(&copy, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
