/// Incremental UTF-8 validation (RFC 3629, no overlongs, no surrogates, nothing past U+10FFFF),
/// for WebSocket text messages that arrive in fragments: an invalid byte is reported as soon as it
/// is seen, not at the end of the message.
///
/// ```swift
/// var v = UTF8Validator()
/// v.feed([0xE2, 0x82])      // true: valid so far, a sequence is open
/// v.feed([0xAC])            // true; v.isComplete == true ("€")
/// ```
public struct UTF8Validator: Sendable {
    private var remaining = 0           // continuation bytes still expected
    private var lower: UInt8 = 0x80     // bounds for the next continuation byte
    private var upper: UInt8 = 0xBF

    public init() {}

    /// False at the first byte that cannot be part of valid UTF-8.
    public mutating func feed<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        for byte in bytes {
            if remaining > 0 {
                guard byte >= lower && byte <= upper else { return false }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
                continue
            }
            switch byte {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: remaining = 1
            case 0xE0: remaining = 2; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: remaining = 2
            case 0xED: remaining = 2; upper = 0x9F
            case 0xF0: remaining = 3; lower = 0x90
            case 0xF1...0xF3: remaining = 3
            case 0xF4: remaining = 3; upper = 0x8F
            default: return false
            }
        }
        return true
    }

    /// True when no multi-byte sequence is left open.
    public var isComplete: Bool { remaining == 0 }

    public mutating func reset() { self = UTF8Validator() }

    /// Validates a whole buffer at once.
    public static func isValid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var v = UTF8Validator()
        return v.feed(bytes) && v.isComplete
    }
}
