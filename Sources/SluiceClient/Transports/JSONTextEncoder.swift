import Foundation

/// Encodes `send(json:)` values (Foundation's JSONEncoder, kept out of the transport files).
enum JSONTextEncoder {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]  // the same value, the same bytes
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
