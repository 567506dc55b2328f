/// One published event of a channel: ids increase by publication order.
public struct ChannelEvent: Sendable, Equatable {
    public var id: Int
    public var event: String?
    public var data: String
    let published: ContinuousClock.Instant

    /// The NDJSON / WebSocket form: `{"data":…,"event":…,"id":"N"}`.
    var jsonLine: String {
        var out = "{\"data\":" + JSONString.quote(data)
        if let event { out += ",\"event\":" + JSONString.quote(event) }
        return out + ",\"id\":\"\(id)\"}"
    }
}

/// JSON string quoting for the few hand-built lines on hot paths (one per event per subscriber).
enum JSONString {
    static func quote(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
