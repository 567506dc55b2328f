import CNGHTTP2

/// A header field as nghttp2 hands it to the header callback: its name's and value's
/// reference-counted buffers. While someone holds a reference to both, their addresses cannot be
/// reused for other bytes, so the same pair of addresses means the same name and value: what
/// ``HTTP2FieldCache`` and ``HTTP2HeadMemo`` recognise fields by, without reading them.
/// A plain pair of pointers: comparing and copying it touches no reference count.
struct HTTP2BufferPair: Equatable {
    var name: OpaquePointer
    var value: OpaquePointer

    /// Takes a reference to both buffers (they outlive the callback that handed them over).
    func retain() {
        nghttp2_rcbuf_incref(name)
        nghttp2_rcbuf_incref(value)
    }

    /// Gives back what `retain()` took. Before the session that made the buffers is deleted.
    func release() {
        nghttp2_rcbuf_decref(name)
        nghttp2_rcbuf_decref(value)
    }

    var nameBytes: UnsafeBufferPointer<UInt8> { Self.bytes(name) }
    var valueBytes: UnsafeBufferPointer<UInt8> { Self.bytes(value) }

    private static func bytes(_ buffer: OpaquePointer) -> UnsafeBufferPointer<UInt8> {
        let vec = nghttp2_rcbuf_get_buf(buffer)
        return UnsafeBufferPointer(start: vec.base, count: vec.len)
    }
}
