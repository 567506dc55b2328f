import CNGHTTP2
import HTTPTypes

/// Builds nghttp2 name/value arrays from HTTP fields. nghttp2 copies them during the submit call,
/// so the bytes need to live only for `body`: they are laid out in one scratch buffer on the stack
/// (two arrays per field were ~7% of a small response's time).
enum HTTP2HeaderBlock {
    static func withNameValues<T>(status: Int?, fields: HTTPFields, _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
        let statusText = status.map { String($0) }
        var size = statusText.map { ":status".utf8.count + $0.utf8.count } ?? 0
        for field in fields { size += field.name.canonicalName.utf8.count + field.value.utf8.count }
        let count = fields.count + (statusText == nil ? 0 : 1)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(size, 1)) { bytes in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(count, 1)) { nvs in
                var offset = 0
                var index = 0
                func append(_ name: String, _ value: String) {
                    let n = bytes.baseAddress! + offset
                    let nameCount = UnsafeMutableBufferPointer(rebasing: bytes[offset...]).initialize(fromContentsOf: name.utf8)
                    offset += nameCount
                    let v = bytes.baseAddress! + offset
                    let valueCount = UnsafeMutableBufferPointer(rebasing: bytes[offset...]).initialize(fromContentsOf: value.utf8)
                    offset += valueCount
                    nvs.initializeElement(at: index, to: nghttp2_nv(
                        name: n, value: v, namelen: nameCount, valuelen: valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                    index += 1
                }
                if let statusText { append(":status", statusText) }
                for field in fields { append(field.name.canonicalName, field.value) }
                defer { nvs.baseAddress!.deinitialize(count: index) }
                return body(nvs.baseAddress!, index)
            }
        }
    }
}
