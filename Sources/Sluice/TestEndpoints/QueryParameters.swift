/// Typed, range-checked query parameters for the test endpoints; a bad value is a 400 that names
/// the parameter.
struct QueryParameters {
    private let values: [String: String]

    init(_ request: Request) { values = request.query }

    func int(_ name: String, in range: ClosedRange<Int>, default value: Int? = nil) throws -> Int? {
        guard let text = values[name], !text.isEmpty else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw HTTPError(.badRequest, "parameter '\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return n
    }

    func int(_ name: String, in range: ClosedRange<Int>, default value: Int) throws -> Int {
        try int(name, in: range, default: Optional(value))!
    }

    /// A short token without line breaks (safe as an SSE field value).
    func token(_ name: String, maxLength: Int = 256) throws -> String? {
        guard let text = values[name] else { return nil }
        guard text.utf8.count <= maxLength, !text.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
            throw HTTPError(.badRequest, "parameter '\(name)' must be at most \(maxLength) bytes without CR, LF or NUL")
        }
        return text
    }
}
