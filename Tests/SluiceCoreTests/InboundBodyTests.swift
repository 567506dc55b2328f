import Testing
@testable import SluiceCore

@Suite struct InboundBodyTests {
    @Test func chunksArriveInOrderAndConsumptionIsReported() async throws {
        let consumed = Locked(0)
        let body = InboundBody(softLimit: 10) { n in consumed.withLock { $0 += n } }
        #expect(body.append([1, 2, 3]))
        #expect(body.append([4, 5, 6, 7, 8, 9, 10]) == false)  // at the soft limit: stop feeding
        #expect(body.bufferedBytes == 10)
        let reader = Task { () -> [[UInt8]] in
            var chunks: [[UInt8]] = []
            for try await chunk in body { chunks.append(chunk) }
            return chunks
        }
        try await Task.sleep(for: .milliseconds(20))
        #expect(body.hasRoom)
        body.append([11])
        body.finish()
        #expect(try await reader.value == [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11]])
        #expect(consumed.withLock { $0 } == 11)
    }

    @Test func failureReachesAWaitingReader() async throws {
        struct Gone: Error {}
        let body = InboundBody()
        let reader = Task { try await body.next() }
        try await Task.sleep(for: .milliseconds(20))
        body.fail(Gone())
        await #expect(throws: Gone.self) { try await reader.value }
        #expect(body.append([1]))  // ignored after failure
    }

    @Test func collectEnforcesTheLimit() async throws {
        struct TooLarge: Error {}
        let body = InboundBody()
        body.append(Array(repeating: 0, count: 6))
        body.append(Array(repeating: 0, count: 6))
        body.finish()
        await #expect(throws: TooLarge.self) { try await body.collect(upTo: 10, tooLarge: TooLarge()) }
        let small = InboundBody()
        small.append([1, 2])
        small.finish()
        #expect(try await small.collect(upTo: 10, tooLarge: TooLarge()) == [1, 2])
        #expect(try await InboundBody.empty().collect(upTo: 0, tooLarge: TooLarge()) == [])
    }

    /// Every bodyless request shares one empty body: nothing the loop or a handler does changes it.
    @Test func theSharedEmptyBodyStaysEmpty() async throws {
        struct TooLarge: Error {}
        let shared = InboundBody.empty()
        #expect(shared === InboundBody.empty())
        shared.append([1, 2, 3])
        shared.fail(TooLarge())
        shared.finish()
        #expect(shared.bufferedBytes == 0)
        #expect(try await shared.next() == nil)
        #expect(try await InboundBody.empty().collect(upTo: 0, tooLarge: TooLarge()) == [])
    }

    @Test func cancellationWakesAWaitingReader() async throws {
        let body = InboundBody()
        let reader = Task { try await body.next() }
        try await Task.sleep(for: .milliseconds(20))
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
    }
}
