import CNGHTTP2
import Foundation
import HTTPTypes
import Testing
@testable import Sluice

/// Request header blocks as a server's header callback gets them: a client session encodes each
/// request with its HPACK table, a server session decodes it with its own, in memory, and each
/// field's name and value buffers are kept (a reference held) for the test to hand to the memo.
private final class HeaderBlocks {
    private var client: OpaquePointer?
    private var server: OpaquePointer?
    private var block: [HTTP2BufferPair] = []
    private var held: [HTTP2BufferPair] = []

    init() {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback2(callbacks) { _, _, name, value, _, user in
            let me = Unmanaged<HeaderBlocks>.fromOpaque(user!).takeUnretainedValue()
            let pair = HTTP2BufferPair(name: name!, value: value!)
            pair.retain()
            me.held.append(pair)
            me.block.append(pair)
            return 0
        }
        let user = Unmanaged.passUnretained(self).toOpaque()
        nghttp2_session_server_new(&server, callbacks, user)
        nghttp2_session_client_new(&client, callbacks, user)
        nghttp2_submit_settings(client, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
    }

    deinit {
        for pair in held { pair.release() }
        nghttp2_session_del(client)
        nghttp2_session_del(server)
    }

    /// The buffers of a GET with `fields` (regular fields after the pseudo-headers), in order.
    func request(path: String, authority: String = "example.test", _ fields: [(String, String)] = []) -> [HTTP2BufferPair] {
        let all = [(":method", "GET"), (":scheme", "http"), (":authority", authority), (":path", path)] + fields
        let strings = all.map { (strdup($0.0)!, strdup($0.1)!) }
        defer { for (n, v) in strings { free(n); free(v) } }
        let nva = zip(all, strings).map { field, text in
            nghttp2_nv(name: UnsafeMutableRawPointer(text.0).assumingMemoryBound(to: UInt8.self),
                       value: UnsafeMutableRawPointer(text.1).assumingMemoryBound(to: UInt8.self),
                       namelen: field.0.utf8.count, valuelen: field.1.utf8.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        #expect(nghttp2_submit_request(client, nil, nva, nva.count, nil, nil) > 0)
        block = []
        while true {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(client, &data)
            guard length > 0, let data else { break }
            #expect(nghttp2_session_mem_recv(server, data, length) == length)
        }
        return block
    }
}

@Suite struct HTTP2HeadMemoTests {
    /// What a block of `pairs` gets, driven as `HTTP2Connection` drives the memo: the memo's head
    /// (`nil` when it was not repeated) and how many fields had to be decoded. A block that does
    /// not repeat it offers `built` to be remembered.
    func receive(_ pairs: [HTTP2BufferPair], path: String, in memo: HTTP2HeadMemo, built: HTTPRequest) -> (head: HTTPRequest?, decoded: Int) {
        memo.begin()
        var decoded = 0
        for pair in pairs {
            if memo.follows(pair) { continue }
            if pair.nameBytes.elementsEqual(":path".utf8) { continue }
            decoded += memo.depart().count + 1
            memo.record(pair)
        }
        if let head = memo.head(path: path) { return (head, decoded) }
        decoded += memo.depart().count
        memo.remember(built)
        return (nil, decoded)
    }

    func head(_ marker: String, path: String = "/") -> HTTPRequest {
        HTTPRequest(method: .get, scheme: "http", authority: "example.test", path: path, headerFields: [HTTPField.Name("x-marker")!: marker])
    }

    @Test func aRepeatedBlockGetsTheRememberedHeadWithItsOwnPathAndDecodesNothing() {
        let blocks = HeaderBlocks()
        let memo = HTTP2HeadMemo()
        defer { memo.removeAll() }
        let fields = [("user-agent", "test/1"), ("accept", "*/*")]
        let first = receive(blocks.request(path: "/a", fields), path: "/a", in: memo, built: head("first", path: "/a"))
        #expect(first.head == nil)
        #expect(first.decoded == 5)  // three pseudo-headers and two fields: all but the path

        let second = receive(blocks.request(path: "/b?q=1", fields), path: "/b?q=1", in: memo, built: head("unused"))
        #expect(second.head?.headerFields[HTTPField.Name("x-marker")!] == "first")
        #expect(second.head?.path == "/b?q=1")
        #expect(second.decoded == 0)
    }

    @Test func aBlockThatDepartsDecodesWhatItFollowedAndBecomesTheMemo() {
        let blocks = HeaderBlocks()
        let memo = HTTP2HeadMemo()
        defer { memo.removeAll() }
        let fields = [("user-agent", "test/1"), ("accept", "*/*")]
        _ = receive(blocks.request(path: "/", fields), path: "/", in: memo, built: head("first"))

        // A value changed at the end: the four fields before it come decoded with it.
        let changed = fields.dropLast() + [("accept", "text/plain")]
        let departed = receive(blocks.request(path: "/", Array(changed)), path: "/", in: memo, built: head("changed"))
        #expect(departed.head == nil)
        #expect(departed.decoded == 5)
        #expect(receive(blocks.request(path: "/", Array(changed)), path: "/", in: memo, built: head("unused")).head?
            .headerFields[HTTPField.Name("x-marker")!] == "changed")

        // One field fewer: not the memo's head (it would carry a field this request did not send).
        let shorter = receive(blocks.request(path: "/", Array(changed.dropLast())), path: "/", in: memo, built: head("shorter"))
        #expect(shorter.head == nil)
        #expect(shorter.decoded == 4)

        // Another authority departs at the third field.
        let other = receive(blocks.request(path: "/", authority: "other.test", fields), path: "/", in: memo, built: head("other"))
        #expect(other.head == nil)
        #expect(other.decoded == 5)
    }

    @Test(arguments: ["fields", "bytes"])
    func aBlockPastTheBoundsIsNotRemembered(_ what: String) {
        // One field more than the memo keeps, or one value as long as all it keeps.
        let fields = what == "fields"
            ? (0...HTTP2HeadMemo.maxFields).map { ("x-f\($0)", "\($0)") }
            : [("x-large", String(repeating: "v", count: HTTP2HeadMemo.maxBytes))]
        let blocks = HeaderBlocks()
        let memo = HTTP2HeadMemo()
        defer { memo.removeAll() }
        let small = [("user-agent", "test/1")]
        _ = receive(blocks.request(path: "/", small), path: "/", in: memo, built: head("small"))
        // Decoded each time, never remembered...
        #expect(receive(blocks.request(path: "/", fields), path: "/", in: memo, built: head("large")).head == nil, "\(what)")
        #expect(receive(blocks.request(path: "/", fields), path: "/", in: memo, built: head("large")).head == nil, "\(what)")
        // ...and the memo before it stands.
        #expect(receive(blocks.request(path: "/", small), path: "/", in: memo, built: head("unused")).head?
            .headerFields[HTTPField.Name("x-marker")!] == "small", "\(what)")
    }
}
