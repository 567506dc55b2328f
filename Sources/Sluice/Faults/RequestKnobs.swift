import HTTPTypes

/// Reads a request's knobs: a query parameter, else a header `<prefix><Name-In-Dashes>` for clients
/// that cannot change the URL (`drop_after` → `X-Sluice-Fault-Drop-After`). Values are range-checked;
/// a bad one is a 400 naming the knob.
///
/// Every request on a fault-injecting server is read for knobs, so the headers are scanned once here
/// (into `knob_name → value`) rather than looked up name by name: that lookup was a third of the
/// server's time per small request.
struct RequestKnobs {
    private let query: [String: String]
    private let fromHeaders: [String: String]
    private let what: String

    /// - Parameters: prefixes: header prefixes, an earlier one winning; what: the word the 400 uses ("fault", …).
    init(_ request: Request, headerPrefixes prefixes: [String], what: String) {
        query = (request.head.path?.contains("?") ?? false) ? request.query : [:]
        self.what = what
        var fromHeaders: [String: String] = [:]
        for prefix in prefixes.map({ $0.lowercased() }) {
            for field in request.head.headerFields where field.name.canonicalName.hasPrefix(prefix) {
                let knob = String(field.name.canonicalName.dropFirst(prefix.count).map { $0 == "-" ? "_" : $0 })
                if fromHeaders[knob] == nil { fromHeaders[knob] = field.value }
            }
        }
        self.fromHeaders = fromHeaders
    }

    func text(_ name: String) -> String? {
        query[name] ?? fromHeaders[name]
    }

    /// True when the request sets no knob at all (the common case, checked first).
    var isEmpty: Bool { query.isEmpty && fromHeaders.isEmpty }

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
