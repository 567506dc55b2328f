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
    private let cache = Locked<(second: Int, fields: [HTTPField])>((-1, []))

    init(serverName: String?) {
        self.serverName = serverName
    }

    var current: [HTTPField] {
        let t = time(nil)
        return cache.withLock { cached in
            if cached.second == t { return cached.fields }
            var fields = [HTTPField(name: .date, value: Self.imfFixdate(t))]
            if let serverName { fields.append(HTTPField(name: .server, value: serverName)) }
            cached = (t, fields)
            return fields
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
