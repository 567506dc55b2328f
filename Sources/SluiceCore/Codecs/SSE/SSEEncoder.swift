/// Encodes events and comments in the `text/event-stream` format (WHATWG HTML, "Server-sent events").
///
/// Pure: values in, bytes out. Every line ends in LF, which every conforming parser accepts.
///
/// ```swift
/// var bytes = try SSEEncoder.encode(SSEEvent(data: "hello", id: "1"))
/// bytes += SSEEncoder.comment("keep-alive")
/// ```
public enum SSEEncoder {
    /// The bytes of one event, ending with the blank line that dispatches it.
    public static func encode(_ event: SSEEvent) throws(SSEEncodingError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((event.data?.utf8.count ?? 0) + 32)
        try encode(event, into: &out)
        return out
    }

    /// Appends one event to `out`.
    public static func encode(_ event: SSEEvent, into out: inout [UInt8]) throws(SSEEncodingError) {
        if let type = event.event {
            if type.utf8.contains(where: { $0 == .cr || $0 == .lf }) { throw .invalidEventType(type) }
            appendField("event", type, to: &out)
        }
        if let id = event.id {
            if id.utf8.contains(where: { $0 == .cr || $0 == .lf || $0 == 0 }) { throw .invalidID(id) }
            appendField("id", id, to: &out)
        }
        if let retry = event.retry {
            if retry < 0 { throw .negativeRetry(retry) }
            appendField("retry", String(retry), to: &out)
        }
        if let data = event.data {
            forEachLine(data) { appendField("data", $0, to: &out) }
        }
        out.append(.lf)
    }

    /// A comment block (`: text`), one comment line per line of `text`. Clients ignore comments; they
    /// keep intermediaries and idle-timeouts from closing a quiet stream.
    public static func comment(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        forEachLine(text) { line in
            out.append(.colon)
            if !line.isEmpty {
                out.append(.space)
                out.append(contentsOf: line)
            }
            out.append(.lf)
        }
        return out
    }

    private static func appendField(_ name: StaticString, _ value: String, to out: inout [UInt8]) {
        appendField(name, Substring(value).utf8, to: &out)
    }

    private static func appendField(_ name: StaticString, _ value: Substring.UTF8View, to out: inout [UInt8]) {
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(.colon)
        // A single space after the colon is stripped by the parser, so a value that itself starts
        // with a space keeps it.
        out.append(.space)
        out.append(contentsOf: value)
        out.append(.lf)
    }

    /// Splits at CRLF, CR or LF, as the parser will.
    private static func forEachLine(_ text: String, _ body: (Substring.UTF8View) -> Void) {
        var text = text
        // The usual one-line value: one scan of contiguous bytes and no index arithmetic on the view.
        let hasBreak = text.withUTF8 { bytes in bytes.contains { $0 == .lf || $0 == .cr } }
        if !hasBreak { return body(Substring(text).utf8) }
        let utf8 = Substring(text).utf8
        var start = utf8.startIndex
        var i = start
        while i != utf8.endIndex {
            let byte = utf8[i]
            if byte == .lf || byte == .cr {
                body(utf8[start..<i])
                var next = utf8.index(after: i)
                if byte == .cr, next != utf8.endIndex, utf8[next] == .lf { next = utf8.index(after: next) }
                start = next
                i = next
            } else {
                i = utf8.index(after: i)
            }
        }
        body(utf8[start..<utf8.endIndex])
    }
}

extension UInt8 {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let colon = UInt8(ascii: ":")
    static let space = UInt8(ascii: " ")
}
