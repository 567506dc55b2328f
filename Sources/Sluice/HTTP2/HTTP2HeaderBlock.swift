import CNGHTTP2
import HTTPTypes

/// Builds nghttp2 name/value arrays from HTTP fields. nghttp2 copies them during the submit call,
/// so the bytes need to live only for `body`.
enum HTTP2HeaderBlock {
    static func withNameValues<T>(status: Int?, fields: HTTPFields, _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
        var pairs: [([UInt8], [UInt8])] = []
        pairs.reserveCapacity(fields.count + 1)
        if let status { pairs.append((Array(":status".utf8), Array(String(status).utf8))) }
        for field in fields {
            pairs.append((Array(field.name.canonicalName.utf8), Array(field.value.utf8)))
        }
        var storage: [UInt8] = pairs.flatMap { $0.0 + $0.1 }
        return storage.withUnsafeMutableBufferPointer { bytes in
            var offset = 0
            var nvs: [nghttp2_nv] = []
            nvs.reserveCapacity(pairs.count)
            for (name, value) in pairs {
                let n = bytes.baseAddress! + offset
                let v = n + name.count
                nvs.append(nghttp2_nv(name: n, value: v, namelen: name.count, valuelen: value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                offset += name.count + value.count
            }
            return nvs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
