/// The connection's open streams, owned here from their first HEADERS frame until nghttp2 closes
/// them. They are found by id through nghttp2, which keeps each stream's pointer with its own stream
/// (`nghttp2_session_get_stream_user_data`); here they sit in an array, each knowing its place, for
/// the walks that need them all (closing the connection): adding and removing cost no hashing (a
/// dictionary by id was ~1.5% of a small request's time). Confined to the connection's loop.
struct HTTP2StreamTable {
    private(set) var all: [HTTP2Stream] = []

    var isEmpty: Bool { all.isEmpty }

    mutating func add(_ stream: HTTP2Stream) {
        stream.tableIndex = all.count
        all.append(stream)
    }

    /// Drops `stream` (a stream not in the table is left alone); the last one takes its place.
    mutating func remove(_ stream: HTTP2Stream) {
        let index = stream.tableIndex
        guard index < all.count, all[index] === stream else { return }
        let last = all.removeLast()
        if index < all.count {
            all[index] = last
            last.tableIndex = index
        }
    }

    mutating func removeAll() { all.removeAll() }
}
