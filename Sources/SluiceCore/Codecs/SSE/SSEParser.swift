/// What the parser reports.
public enum SSEParserOutput: Sendable, Equatable {
    /// A dispatched event (WHATWG "dispatch the event").
    case event(SSEParsedEvent)
    /// A `retry:` field with only digits: the new reconnection time in milliseconds.
    case retry(Int)
    /// A comment line (`: text`), which keeps a quiet stream alive.
    case comment(String)
}

/// An event as a client receives it.
public struct SSEParsedEvent: Sendable, Equatable {
    /// The event type; `message` when the stream named none.
    public var type: String
    public var data: String
    /// The last event ID in force when the event was dispatched (sent back as `Last-Event-ID`).
    public var lastEventID: String

    public init(type: String = "message", data: String, lastEventID: String = "") {
        self.type = type
        self.data = data
        self.lastEventID = lastEventID
    }
}

/// An incremental `text/event-stream` parser that follows the WHATWG HTML algorithm exactly
/// ("Interpreting an event stream"): a leading BOM is skipped, lines end at CRLF, LF or CR (also when
/// CR and LF arrive in different chunks), `data` lines join with LF, `event` resets after each
/// dispatch, an `id` containing NUL is ignored, an event with no data only records its id, `retry`
/// takes digits only, and a field without a colon has an empty value. Pure: bytes in, outputs out.
///
/// ```swift
/// var parser = SSEParser()
/// for output in parser.feed(Array("id: 1\ndata: hi\n\n".utf8)) {
///     if case .event(let e) = output { print(e.data, e.lastEventID) }   // "hi" "1"
/// }
/// ```
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var atStart = true
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType = ""
    /// The last event ID buffer; survives across events and is what a reconnect sends.
    public private(set) var lastEventID = ""

    public init(lastEventID: String = "") {
        self.lastEventID = lastEventID
    }

    /// Parses a chunk; returns what it completed. Partial lines wait for the next chunk.
    public mutating func feed<C: Collection>(_ bytes: C) -> [SSEParserOutput] where C.Element == UInt8 {
        var out: [SSEParserOutput] = []
        // One non-generic scan over contiguous bytes: a generic byte-at-a-time loop is not
        // specialised across modules and costs an iterator call per byte.
        let contiguous: Void? = bytes.withContiguousStorageIfAvailable { scan($0, into: &out) }
        if contiguous == nil { Array(bytes).withUnsafeBufferPointer { scan($0, into: &out) } }
        return out
    }

    private mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [SSEParserOutput]) {
        var i = 0
        // The first bytes of the stream may be a BOM: byte by byte until that is settled.
        while i < bytes.count && (atStart || bomState > 0) {
            feedByte(bytes[i], into: &out)
            i += 1
        }
        while i < bytes.count {
            let byte = bytes[i]
            if byte == 0x0A || byte == 0x0D {
                feedByte(byte, into: &out)
                i += 1
                continue
            }
            // A run of line content up to the next line end, appended at once.
            lastWasCR = false
            var j = i + 1
            while j < bytes.count && bytes[j] != 0x0A && bytes[j] != 0x0D { j += 1 }
            line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i..<j]))
            i = j
        }
    }

    private mutating func feedByte(_ byte: UInt8, into out: inout [SSEParserOutput]) {
        if atStart {
            atStart = false
            bomState = byte == 0xEF ? 1 : 0
            if bomState == 1 { return }
        } else if bomState > 0 {
            // Inside a possible BOM (EF BB BF): anything else is ordinary line content.
            let expected: UInt8 = bomState == 1 ? 0xBB : 0xBF
            if byte == expected {
                bomState = bomState == 1 ? 2 : 0
                return
            }
            line.append(0xEF)
            if bomState == 2 { line.append(0xBB) }
            bomState = 0
        }
        switch byte {
        case 0x0A:
            if lastWasCR {
                lastWasCR = false  // the LF of a CRLF split after its CR
                return
            }
            processLine(&out)
        case 0x0D:
            lastWasCR = true
            processLine(&out)
        default:
            lastWasCR = false
            line.append(byte)
        }
    }

    private var bomState = 0

    /// The stream ended: an incomplete event is discarded, as the spec says.
    public mutating func finish() {
        line.removeAll()
        data.removeAll()
        hasData = false
        eventType = ""
        lastWasCR = false
    }

    private mutating func processLine(_ out: inout [SSEParserOutput]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch(&out) }
        if line[0] == UInt8(ascii: ":") {
            var comment = line[1...]
            if comment.first == UInt8(ascii: " ") { comment = comment.dropFirst() }
            out.append(.comment(String(decoding: comment, as: UTF8.self)))
            return
        }
        let field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            field = line[...]
            value = []
        }
        switch String(decoding: field, as: UTF8.self) {
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "data":
            data.append(contentsOf: value)
            data.append(0x0A)
            hasData = true
        case "id":
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let ms = Int(String(decoding: value, as: UTF8.self)) {
                out.append(.retry(ms))
            }
        default:
            break
        }
    }

    private mutating func dispatch(_ out: inout [SSEParserOutput]) {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventType = ""
        }
        guard hasData else { return }  // id-only (or empty) event: the id is recorded, nothing dispatched
        if data.last == 0x0A { data.removeLast() }
        out.append(.event(SSEParsedEvent(
            type: eventType.isEmpty ? "message" : eventType,
            data: String(decoding: data, as: UTF8.self),
            lastEventID: lastEventID)))
    }
}
