import HTTPTypes

/// The head of the last request on a connection, recognised again when the next request's header
/// block repeats it field for field: a client's requests on one connection mostly differ in `:path`
/// alone, and HPACK hands their repeated fields over as the very buffers of its table entries
/// (see ``HTTP2BufferPair``). A block that follows the memo to its end gets a copy of the memo's
/// head (the path set when it differs) instead of each field decoded, appended and validated by
/// HTTPTypes again: ~10% of the server's samples for a 100-byte h2 request (see the issue 7 note).
///
/// The memo never reads a field it recognises; the first field that departs from it (or a block
/// that ends early) has the fields matched so far decoded then, in order, and decoding goes on
/// field by field as before. Such a block is recorded as it goes, and its head becomes the memo
/// when it is built. `:path` is left out of the pairs (HPACK encoders do not index it, so its
/// buffers are new each time) and compared as text.
///
/// At most one header block is received at a time on a connection (RFC 9113 §6.10: a header block
/// is one HEADERS frame and its CONTINUATIONs, with no other frame between), so one memo and one
/// block in progress suffice. Bounded: ``maxFields`` fields of ``maxBytes`` in all, or nothing is
/// recorded. Confined to the connection's loop, as nghttp2's buffers are; ``removeAll()`` before the
/// session that made them goes.
final class HTTP2HeadMemo {
    static let maxFields = 32
    /// Names and values together: a cookie of a few KiB still counts, a larger one is decoded each time.
    static let maxBytes = 4096

    /// The memo: a head and the buffers its fields came in (a reference held to each).
    @exclusivity(unchecked) private var pairs: [HTTP2BufferPair] = []
    @exclusivity(unchecked) private var remembered: HTTPRequest?

    // The block in progress.
    /// How many of `pairs` it has repeated, in order; nil once it departed from them.
    @exclusivity(unchecked) private var followed: Int? = 0
    /// Its pairs once it departed (a reference held to each), while it can still become the memo.
    @exclusivity(unchecked) private var recorded: [HTTP2BufferPair] = []
    @exclusivity(unchecked) private var recordedBytes = 0
    @exclusivity(unchecked) private var recording = true

    /// A new request header block begins.
    func begin() {
        forgetRecorded()
        followed = 0
        recording = true
    }

    /// Whether `pair`, the block's next field, repeats the memo's: then the memo has it, and it
    /// must not be decoded.
    func follows(_ pair: HTTP2BufferPair) -> Bool {
        guard let count = followed, count < pairs.count, pairs[count] == pair else { return false }
        followed = count + 1
        return true
    }

    /// The block departs from the memo at its next field (or ends short of it): the pairs it
    /// followed, for the caller to decode in order. Empty once it has departed.
    func depart() -> ArraySlice<HTTP2BufferPair> {
        guard let count = followed else { return [] }
        followed = nil
        let matched = pairs[..<count]
        for pair in matched { record(pair) }
        return matched
    }

    /// A field the caller decoded (after `depart()`), kept for the memo to come.
    func record(_ pair: HTTP2BufferPair) {
        guard recording else { return }
        recordedBytes += pair.nameBytes.count + pair.valueBytes.count
        guard recorded.count < Self.maxFields, recordedBytes <= Self.maxBytes else {
            recording = false
            return forgetRecorded()
        }
        pair.retain()
        recorded.append(pair)
    }

    /// The memo's head when the block followed all of it, with `path` set; nil otherwise (then the
    /// caller calls `depart()`, decodes, builds the head and offers it to `remember(_:)`).
    func head(path: String?) -> HTTPRequest? {
        guard followed == pairs.count, var head = remembered else { return nil }
        if head.path != path { head.path = path }
        return head
    }

    /// The head built from the block that departed: the memo from now on, if the block was recorded.
    func remember(_ built: HTTPRequest) {
        guard recording, followed == nil else { return }
        for pair in pairs { pair.release() }
        // The old pairs' array becomes the next block's record, so neither is allocated again.
        swap(&pairs, &recorded)
        recorded.removeAll(keepingCapacity: true)
        recordedBytes = 0
        remembered = built
        recording = false
    }

    /// Lets go of every buffer held.
    func removeAll() {
        forgetRecorded()
        for pair in pairs { pair.release() }
        pairs = []
        remembered = nil
        followed = 0
    }

    private func forgetRecorded() {
        // Nothing recorded, as a rule (a block that followed the memo): then nothing is touched.
        if !recorded.isEmpty {
            for pair in recorded { pair.release() }
            recorded.removeAll(keepingCapacity: true)
        }
        recordedBytes = 0
    }

    deinit { removeAll() }
}
