import Foundation

/// The `sluice check` table and its JSON lines.
enum CheckReport {
    static let header = pad("scenario", 32) + pad("expected", 9, right: true) + pad("received", 9, right: true)
        + pad("lost", 6, right: true) + pad("dup", 5, right: true) + pad("reconn", 7, right: true) + pad("time", 8, right: true) + "  result"

    static func row(_ r: CheckResult) -> String {
        pad(r.scenario.name, 32) + pad("\(r.expected)", 9, right: true) + pad("\(r.received)", 9, right: true)
            + pad("\(r.lost)", 6, right: true) + pad("\(r.duplicated)", 5, right: true) + pad("\(r.reconnects)", 7, right: true)
            + pad(String(format: "%.2fs", r.seconds), 8, right: true) + "  " + (r.passed ? "PASS" : "FAIL")
            + (r.detail.isEmpty || r.passed && r.expected > 0 ? "" : "  (\(r.detail))")
    }

    static func json(_ r: CheckResult) -> String {
        let object: [String: Any] = [
            "scenario": r.scenario.name, "transport": r.scenario.transport.rawValue, "fault": r.scenario.fault,
            "expected": r.expected, "received": r.received, "lost": r.lost, "duplicated": r.duplicated,
            "out_of_order": r.outOfOrder, "reconnects": r.reconnects, "seconds": (r.seconds * 1000).rounded() / 1000,
            "result": r.passed ? "PASS" : "FAIL", "detail": r.detail,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func summary(total: Int, failed: Int) -> String {
        failed == 0 ? "all \(total) scenarios passed" : "\(failed) of \(total) scenarios FAILED"
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let gap = String(repeating: " ", count: max(1, width - text.count))
        return right ? gap + text : text + gap
    }
}
