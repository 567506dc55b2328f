import HTTPTypes
import SluiceCore

/// A response sink that misbehaves as a ``FaultPlan`` says, around the real one. It sits between the
/// writers and the protocol, so every route kind and both protocols get the same faults.
final class FaultySink: ResponseSink, @unchecked Sendable {
    private let inner: ResponseSink
    private let plan: FaultPlan
    private let state: Locked<State>

    private struct State {
        var writes = 0
        var random: SplitMix64
        var isSSE = false
        var bomSent = false
        /// `buffer=1`: the head and bytes held back.
        var heldHead: HTTPResponse?
        var held: [UInt8] = []
    }

    init(inner: ResponseSink, plan: FaultPlan) {
        self.inner = inner
        self.plan = plan
        state = Locked(State(random: SplitMix64(seed: plan.seed)))
    }

    var headSent: Bool { inner.headSent || state.withLock { $0.heldHead != nil } }
    var statistics: OutboundQueue.Statistics { inner.statistics }
    var pendingBytes: Int { inner.pendingBytes + state.withLock { $0.held.count } }
    var joinsMessages: Bool { false }

    func sendHead(_ head: HTTPResponse) throws {
        let hold = state.withLock { s -> Bool in
            s.isSSE = head.headerFields[.contentType]?.hasPrefix("text/event-stream") ?? false
            guard plan.buffer, !inner.headSent else { return false }
            // A second head is ignored, as the real sink ignores it.
            if s.heldHead == nil { s.heldHead = head }
            return true
        }
        if !hold { try inner.sendHead(head) }
    }

    func write(_ bytes: [UInt8]) async throws {
        if !headSent { try sendHead(HTTPResponse(status: .ok)) }
        enum Step { case drop, stall, drip, corrupt }
        let (n, chaosStep, latency, corruptNow) = state.withLock { s -> (Int, Step?, Int, Bool) in
            defer { s.writes += 1 }
            var step: Step?
            if plan.dropRate > 0, s.random.nextUnit() < plan.dropRate { step = .drop }
            if step == nil, plan.chaos > 0, s.random.nextUnit() < plan.chaos {
                step = [Step.drop, .stall, .drip, .corrupt][Int(s.random.next() % 4)]
            }
            let jitter = plan.jitterMs > 0 ? Int(s.random.next() % UInt64(2 * plan.jitterMs + 1)) - plan.jitterMs : 0
            let corrupt = s.isSSE && plan.corrupt > 0 && s.random.nextUnit() < plan.corrupt
            return (s.writes, step, max(0, plan.latencyMs + jitter), corrupt)
        }
        if n == plan.dropAfter || chaosStep == .drop {
            // What was written before the drop reaches the peer first (an h2 reset discards queued DATA).
            await InjectedDrop.letPendingOut(inner)
            if inner is HTTP2ResponseSink {
                // The DATA is in nghttp2's output; let it reach the socket before RST_STREAM follows.
                try await Task.sleep(for: .milliseconds(20))
            }
            if plan.dropMode == .goaway { inner.abortConnection() }
            throw InjectedDrop()
        }
        if n == plan.stallAfter || chaosStep == .stall {
            try await Task.sleep(for: .milliseconds(chaosStep == .stall ? min(plan.stallMs, 200) : plan.stallMs))
        }
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        let out = transform(bytes, corrupt: corruptNow || chaosStep == .corrupt)
        if plan.buffer {
            let flush = state.withLock { s -> [UInt8]? in
                s.held += out
                guard s.held.count >= plan.bufferBytes else { return nil }
                defer { s.held.removeAll() }
                return s.held
            }
            if let flush { try await release(flush) }
            return
        }
        if let piece = plan.dripBytes ?? (chaosStep == .drip ? 1 : nil) {
            var offset = 0
            while offset < out.count {
                let end = min(out.count, offset + piece)
                try await inner.write(Array(out[offset..<end]))
                // One piece per socket write: wait until the loop has handed it to the kernel.
                while inner.pendingBytes > 0 { try await Task.sleep(for: .microseconds(200)) }
                offset = end
            }
        } else {
            try await inner.write(out)
        }
        if let bandwidth = plan.bandwidth {
            try await Task.sleep(for: .microseconds(Int64(out.count) * 1_000_000 / Int64(bandwidth)))
        }
    }

    func finish(trailers: HTTPFields?) {
        let (head, held) = state.withLock { s -> (HTTPResponse?, [UInt8]) in
            defer { s.heldHead = nil; s.held.removeAll() }
            return (s.heldHead, s.held)
        }
        guard head != nil || !held.isEmpty else { return inner.finish(trailers: trailers) }
        // The held response goes out whole; finishing must not wait, so the last write is queued
        // without suspending (the queue holds it until the peer reads it).
        if let head { try? inner.sendHead(head) }
        let inner = self.inner
        Task {
            if !held.isEmpty { try? await inner.write(held) }
            inner.finish(trailers: trailers)
        }
    }

    func abort() { inner.abort() }
    func abortConnection() { inner.abortConnection() }

    /// Sends what `buffer=1` held, head first, once the buffer is full.
    private func release(_ bytes: [UInt8]) async throws {
        let head = state.withLock { s -> HTTPResponse? in
            defer { s.heldHead = nil }
            return s.heldHead
        }
        if let head { try inner.sendHead(head) }
        try await inner.write(bytes)
    }

    /// SSE byte faults: line endings, a BOM first, a malformed line before the event.
    private func transform(_ bytes: [UInt8], corrupt: Bool) -> [UInt8] {
        let (isSSE, addBOM) = state.withLock { s -> (Bool, Bool) in
            defer { if s.isSSE && plan.bom { s.bomSent = true } }
            return (s.isSSE, s.isSSE && plan.bom && !s.bomSent)
        }
        guard isSSE else { return bytes }
        var out: [UInt8] = addBOM ? [0xEF, 0xBB, 0xBF] : []
        // A misspelt field: a WHATWG parser ignores the line; a sloppy one may not.
        let lines = corrupt ? Array("dta: corrupted\n".utf8) + bytes : bytes
        switch plan.lineEnding {
        case .lf:
            out += lines
        case .crlf:
            for byte in lines { if byte == 0x0A { out += [0x0D, 0x0A] } else { out.append(byte) } }
        case .cr:
            for byte in lines { out.append(byte == 0x0A ? 0x0D : byte) }
        }
        return out
    }
}
