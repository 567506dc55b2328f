import SluiceCore

/// One published event of a channel: ids increase by publication order.
///
/// Its wire forms are made once, when it is published, and shared by every subscriber: with a
/// thousand SSE readers, encoding per reader was a fifth of the server's fan-out time. The fields sit
/// in one shared object, so queueing an event for a reader is one retain, not five.
public struct ChannelEvent: Sendable, Equatable {
    private final class Storage: Sendable {
        let id: Int
        let event: String?
        let data: String
        let published: ContinuousClock.Instant
        let sseFrame: [UInt8]
        let jsonLine: String

        init(id: Int, event: String?, data: String, published: ContinuousClock.Instant, sseFrame: [UInt8], jsonLine: String) {
            self.id = id
            self.event = event
            self.data = data
            self.published = published
            self.sseFrame = sseFrame
            self.jsonLine = jsonLine
        }
    }

    private let storage: Storage

    public var id: Int { storage.id }
    public var event: String? { storage.event }
    public var data: String { storage.data }
    var published: ContinuousClock.Instant { storage.published }
    /// The SSE frame (`event:`, `id:`, `data:` lines and the blank line).
    var sseFrame: [UInt8] { storage.sseFrame }
    /// The NDJSON / WebSocket form: `{"data":…,"event":…,"id":"N"}`.
    var jsonLine: String { storage.jsonLine }

    /// Throws when `event` is not one line.
    init(id: Int, event: String?, data: String, published: ContinuousClock.Instant) throws(SSEEncodingError) {
        let frame = try SSEEncoder.encode(SSEEvent(data: data, event: event, id: String(id)))
        var line = "{\"data\":" + JSONString.quote(data)
        if let event { line += ",\"event\":" + JSONString.quote(event) }
        line += ",\"id\":\"\(id)\"}"
        storage = Storage(id: id, event: event, data: data, published: published, sseFrame: frame, jsonLine: line)
    }

    public static func == (a: ChannelEvent, b: ChannelEvent) -> Bool {
        a.storage === b.storage || (a.id == b.id && a.event == b.event && a.data == b.data && a.published == b.published)
    }
}

/// JSON string quoting for the few hand-built lines on hot paths (one per event per subscriber).
enum JSONString {
    static func quote(_ text: String) -> String {
        let utf8 = text.utf8
        // Most text needs no escape: one copy. Appending scalar by scalar cost ~10 µs for a 100-byte
        // event, paid at every publish.
        guard utf8.contains(where: needsEscape) else { return "\"" + text + "\"" }
        // Every byte to escape is ASCII; the bytes of multi-byte characters (0x80 and up) pass as they are.
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(utf8.count + 16)
        for byte in utf8 {
            guard needsEscape(byte) else {
                out.append(byte)
                continue
            }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
            default:
                out += [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}
