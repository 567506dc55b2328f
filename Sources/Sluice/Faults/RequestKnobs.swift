import HTTPTypes

/// Reads a request's knobs: a query parameter, else a header `<prefix><Name-In-Dashes>` for clients
/// that cannot change the URL (`drop_after` → `X-Sluice-Fault-Drop-After`). Values are range-checked;
/// a bad one is a 400 naming the knob.
struct RequestKnobs {
    private let query: [String: String]
    private let headers: HTTPFields
    private let prefixes: [String]
    private let what: String

    /// - Parameters: prefixes: header prefixes tried in order; what: the word the 400 uses ("fault", …).
    init(_ request: Request, headerPrefixes prefixes: [String], what: String) {
        query = request.query
        headers = request.head.headerFields
        self.prefixes = prefixes
        self.what = what
    }

    func text(_ name: String) -> String? {
        if let value = query[name] { return value }
        let dashed = name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-")
        for prefix in prefixes {
            if let field = HTTPField.Name(prefix + dashed), let value = headers[field] { return value }
        }
        return nil
    }

    func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let text = text(name), !text.isEmpty else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw HTTPError(.badRequest, "\(what) '\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return n
    }

    func probability(_ name: String) throws -> Double? {
        guard let text = text(name), !text.isEmpty else { return nil }
        guard let p = Double(text), (0...1).contains(p) else {
            throw HTTPError(.badRequest, "\(what) '\(name)' must be a probability in 0...1, got '\(text)'")
        }
        return p
    }
}
