/// Finds the events of a fan-out stream in body bytes split anywhere: every `data: ` line is one event,
/// and the digits that start it are its publish time in µs (the `Ticker` format). Not a full SSE parser
/// (that is SSEParser, far slower than a benchmark reader needs to be): ids, comments and other
/// fields are skipped, and a line is only looked at once complete.
struct SSEStampScanner {
    /// The unfinished line; past `maxLine` bytes it is dropped (no event), so a stream without line
    /// breaks cannot grow it without bound.
    private var carry: [UInt8] = []
    private let maxLine = 64 * 1024

    /// Calls `event` with each complete event's stamp (0 when its data does not start with digits).
    mutating func scan(_ bytes: UnsafeRawBufferPointer, event: (Int) -> Void) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var start = 0
        var index = 0
        let count = bytes.count
        while index < count {
            if base[index] == 0x0A {
                if carry.isEmpty {
                    Self.line(UnsafeBufferPointer(start: base + start, count: index - start), event: event)
                } else {
                    carry.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
                    carry.withUnsafeBufferPointer { Self.line($0, event: event) }
                    carry.removeAll(keepingCapacity: true)
                }
                start = index + 1
            }
            index += 1
        }
        if start < count { carry.append(contentsOf: UnsafeBufferPointer(start: base + start, count: count - start)) }
        if carry.count > maxLine { carry.removeAll() }
    }

    private static let prefix: [UInt8] = Array("data: ".utf8)

    private static func line(_ line: UnsafeBufferPointer<UInt8>, event: (Int) -> Void) {
        guard line.count >= prefix.count, line[0] == 0x64, line[1] == 0x61, line[2] == 0x74, line[3] == 0x61,
              line[4] == 0x3A, line[5] == 0x20 else { return }
        var stamp = 0
        var i = prefix.count
        while i < line.count, line[i] >= 0x30, line[i] <= 0x39 {
            stamp = stamp &* 10 &+ Int(line[i] - 0x30)
            i += 1
        }
        event(stamp)
    }
}
