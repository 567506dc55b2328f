import CNGHTTP2
import HTTPTypes

/// Builds nghttp2 name/value arrays from HTTP fields. nghttp2 copies them during the submit call,
/// so the bytes need to live only for `body`: they are laid out in one scratch buffer on the stack
/// (two arrays per field were ~7% of a small response's time), or pointed at where a response
/// keeps them laid out already (``EncodedFields``).
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
        return withNameValueSpace(bytes: size, fields: count) { list in
            if let status { list.appendCopy(of: status) }
            for field in fields where !isConnectionSpecific(field.name) && (extra.isEmpty || !field.name.occurs(in: extra)) {
                list.appendCopy(of: field)
            }
            for field in extra { list.appendCopy(of: field) }
            return body(list.nvs.baseAddress!, list.count)
        }
    }

    /// The same for a head whose fields were laid out once (``EncodedFields`` that stand alone: none
    /// of them is one that `extra` replaces), with the server's own fields laid out too: the pairs
    /// point into those bytes, and only the status code's three digits are written.
    static func withNameValues<T>(
        status code: Int, encoded: EncodedFields, appending extra: EncodedFields, _ body: (UnsafePointer<nghttp2_nv>, Int) -> T
    ) -> T {
        precondition((100...999).contains(code), "a status code has three digits")
        return withNameValueSpace(bytes: 10, fields: 1 + encoded.fields.count + extra.fields.count) { list in
            list.appendStatus(code)
            return encoded.bytes.withUnsafeBufferPointer { own in
                extra.bytes.withUnsafeBufferPointer { server in
                    list.append(encoded, at: own)
                    list.append(extra, at: server)
                    return body(list.nvs.baseAddress!, list.count)
                }
            }
        }
    }

    /// A name/value array being filled, with scratch room for the bytes it copies.
    private struct NameValueList {
        let scratch: UnsafeMutableBufferPointer<UInt8>
        let nvs: UnsafeMutableBufferPointer<nghttp2_nv>
        var used = 0
        var count = 0

        mutating func append(name: UnsafeMutablePointer<UInt8>, count nameCount: Int, value: UnsafeMutablePointer<UInt8>, count valueCount: Int) {
            nvs.initializeElement(at: count, to: nghttp2_nv(
                name: name, value: value, namelen: nameCount, valuelen: valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            count += 1
        }

        /// Points at the fields laid out in `bytes` (nghttp2 copies them in the submit call and never
        /// writes to them), leaving out those HTTP/2 forbids.
        mutating func append(_ encoded: EncodedFields, at bytes: UnsafeBufferPointer<UInt8>) {
            let base = UnsafeMutablePointer(mutating: bytes.baseAddress!)
            for field in encoded.fields where !field.isConnectionSpecific {
                append(name: base + field.nameStart, count: field.nameCount, value: base + field.valueStart, count: field.valueCount)
            }
        }

        /// `:status` with a three-digit code.
        mutating func appendStatus(_ code: Int) {
            let name = scratch.baseAddress! + used
            used += UnsafeMutableBufferPointer(rebasing: scratch[used...]).initialize(fromContentsOf: ":status".utf8)
            let value = scratch.baseAddress! + used
            value[0] = UInt8(truncatingIfNeeded: 48 + code / 100)
            value[1] = UInt8(truncatingIfNeeded: 48 + code / 10 % 10)
            value[2] = UInt8(truncatingIfNeeded: 48 + code % 10)
            used += 3
            append(name: name, count: 7, value: value, count: 3)
        }

        mutating func appendCopy(of field: HTTPField) {
            let name = scratch.baseAddress! + used
            let nameCount = UnsafeMutableBufferPointer(rebasing: scratch[used...]).initialize(fromContentsOf: field.name.canonicalName.utf8)
            used += nameCount
            let value = scratch.baseAddress! + used
            let valueCount = UnsafeMutableBufferPointer(rebasing: scratch[used...]).initialize(fromContentsOf: field.value.utf8)
            used += valueCount
            append(name: name, count: nameCount, value: value, count: valueCount)
        }
    }

    /// Room on the stack for `fields` pairs and `bytes` copied bytes, for the time of `body`.
    private static func withNameValueSpace<T>(bytes: Int, fields: Int, _ body: (inout NameValueList) -> T) -> T {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(bytes, 1)) { scratch in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(fields, 1)) { nvs in
                var list = NameValueList(scratch: scratch, nvs: nvs)
                defer { nvs.baseAddress!.deinitialize(count: list.count) }
                return body(&list)
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
