import HTTPTypes
import Testing
@testable import Sluice

@Suite struct HTTP2FieldNamesTests {
    func withBytes<T>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        Array(text.utf8).withUnsafeBufferPointer(body)
    }

    @Test(arguments: [
        (":method", "method"), (":scheme", "scheme"), (":authority", "authority"), (":path", "path"),
        (":protocol", "protocol"), (":status", "other"), (":pathx", "other"), (":metho", "other"), (":", "other"),
    ])
    func pseudoHeaders(_ name: String, _ expected: String) {
        #expect(withBytes(name) { "\(HTTP2FieldNames.pseudo($0))" } == expected)
    }

    /// Table names and names made on the spot are the same names; what HTTPTypes refuses stays refused.
    @Test(arguments: [
        ("user-agent", "user-agent"), ("accept", "accept"), ("last-event-id", "last-event-id"), ("te", "te"),
        ("x-custom", "x-custom"), ("accepts", "accepts"), ("user-agenz", "user-agenz"),
        ("Accept", nil), ("bad name", nil), ("", nil),
    ] as [(String, String?)])
    func regularNames(_ name: String, _ expected: String?) {
        let made = withBytes(name) { HTTP2FieldNames.name($0) }
        #expect(made?.canonicalName == expected)
        if let made { #expect(made == HTTPField.Name(name)) }
    }
}
