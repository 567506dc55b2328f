#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// The IMF-fixdate for the `Date` header, formatted at most once a second for the whole process.
enum DateHeader {
    private static let cache = Locked<(second: Int, text: String)>((-1, ""))

    static var now: String {
        let t = time(nil)
        return cache.withLock { cached in
            if cached.second == t { return cached.text }
            var copy = t
            var parts = tm()
            gmtime_r(&copy, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            let text = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            cached = (t, text)
            return text
        }
    }
}
