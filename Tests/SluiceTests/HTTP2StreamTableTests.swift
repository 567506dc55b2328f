import Testing
@testable import Sluice

/// The connection's table of open streams: each stream knows its place, a removal moves the last
/// stream into the gap, and a stream that is not there is left alone.
@Suite struct HTTP2StreamTableTests {
    @Test func addAndRemoveInAnyOrder() {
        var table = HTTP2StreamTable()
        let streams = (0..<6).map { HTTP2Stream(id: Int32(2 * $0 + 1)) }
        for stream in streams { table.add(stream) }
        #expect(table.all.map(\.id) == [1, 3, 5, 7, 9, 11])

        table.remove(streams[2])  // the middle: the last takes its place
        #expect(table.all.map(\.id) == [1, 3, 11, 7, 9])
        table.remove(streams[0])
        #expect(table.all.map(\.id) == [9, 3, 11, 7])
        table.remove(streams[3])  // the last
        #expect(table.all.map(\.id) == [9, 3, 11])
        for (index, stream) in table.all.enumerated() { #expect(stream.tableIndex == index) }

        table.remove(streams[2])  // gone already: its stale place now holds another stream
        table.remove(HTTP2Stream(id: 99))  // never added
        #expect(table.all.map(\.id) == [9, 3, 11])

        for stream in table.all { table.remove(stream) }
        #expect(table.isEmpty)
    }
}
