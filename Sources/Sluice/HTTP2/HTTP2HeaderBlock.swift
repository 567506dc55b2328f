import CNGHTTP2
import HTTPTypes

/// Builds nghttp2 name/value arrays from HTTP fields. nghttp2 copies them during the submit call,
/// so the bytes need to live only for `body`: they are laid out in one scratch buffer on the stack
/// (two arrays per field were ~7% of a small response's time).
///
/// Fields HTTP/2 forbids (connection-specific, RFC 9113 §8.2.2) are left out, and so are those the
/// `appending` fields (Date, Server) replace: filtered here, the response's own fields are never
/// copied to remove them.
enum HTTP2HeaderBlock {
    /// - Parameter status: the response's `:status` pseudo-header field (HTTPResponse keeps the code
    ///   as its text: copied as it is, never parsed and printed again); nil for trailers.
    static func withNameValues<T>(
        status: HTTPField?, fields: HTTPFields, appending extra: [HTTPField] = [], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T
    ) -> T {
        var size = 0
        if let status { size += length(of: status) }
        for field in fields { size += length(of: field) }
        for field in extra { size += length(of: field) }
        let count = fields.count + extra.count + (status == nil ? 0 : 1)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(size, 1)) { bytes in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(count, 1)) { nvs in
                var offset = 0
                var index = 0
                func append(_ field: HTTPField) {
                    let n = bytes.baseAddress! + offset
                    let nameCount = UnsafeMutableBufferPointer(rebasing: bytes[offset...]).initialize(fromContentsOf: field.name.canonicalName.utf8)
                    offset += nameCount
                    let v = bytes.baseAddress! + offset
                    let valueCount = UnsafeMutableBufferPointer(rebasing: bytes[offset...]).initialize(fromContentsOf: field.value.utf8)
                    offset += valueCount
                    nvs.initializeElement(at: index, to: nghttp2_nv(
                        name: n, value: v, namelen: nameCount, valuelen: valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                    index += 1
                }
                if let status { append(status) }
                for field in fields where !isConnectionSpecific(field.name) && (extra.isEmpty || !field.name.occurs(in: extra)) {
                    append(field)
                }
                for field in extra { append(field) }
                defer { nvs.baseAddress!.deinitialize(count: index) }
                return body(nvs.baseAddress!, index)
            }
        }
    }

    private static func length(of field: HTTPField) -> Int {
        field.name.canonicalName.utf8.count + field.value.utf8.count
    }

    /// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade: forbidden in HTTP/2.
    static func isConnectionSpecific(_ name: HTTPField.Name) -> Bool {
        let text = name.canonicalName
        return switch text.utf8.count {
        case 7: text == "upgrade"
        case 10: text == "connection" || text == "keep-alive"
        case 16: text == "proxy-connection"
        case 17: text == "transfer-encoding"
        default: false
        }
    }
}
