import SluiceCore

/// Accumulates an LLM provider's streamed response — OpenAI Chat Completions, the OpenAI Responses
/// API or Anthropic Messages, told apart by the frames themselves — into text, thinking, tool calls
/// with their JSON arguments, usage, stop reason and errors.
///
/// Feed it raw `text/event-stream` bytes (split anywhere) or parsed SSE events; read ``state``, set the
/// callbacks, or iterate ``deltas``. Tool-call arguments are appended as they stream and parsed once,
/// when the call is complete, so a long argument stream costs linear time.
///
/// ```swift
/// let accumulator = AIStreamAccumulator()
/// accumulator.onText = { print($0, terminator: "") }
/// accumulator.feed(bytes)            // as many times as bytes arrive
/// accumulator.finish()
/// print(accumulator.state.toolCalls.first?.parsedArguments ?? "no tool call")
/// ```
///
/// Not thread-safe: use one accumulator from one task at a time.
public final class AIStreamAccumulator {
    /// The dialects frames may be in; with one, no detection happens.
    public let dialects: Set<AIDialect>
    public private(set) var state = AIStreamState()

    public var onText: ((String) -> Void)?
    public var onThinking: ((String) -> Void)?
    /// A tool call was announced (id and name, when the provider gives them).
    public var onToolUseStart: ((AIToolCall) -> Void)?
    /// A piece of a tool call's arguments arrived; the call holds everything so far.
    public var onToolUseDelta: ((AIToolCall, String) -> Void)?
    /// The stream ended: by its end marker, or by ``finish()`` without one (then `state.error` is
    /// `incomplete_stream`). Called once.
    public var onStreamEnd: ((AIStreamState) -> Void)?
    public var onError: ((AIStreamError) -> Void)?

    private var parser = SSEParser()
    private var decoder: (any AIDialectDecoder)?
    private var continuation: AsyncStream<AIStreamDelta>.Continuation?
    private var stream: AsyncStream<AIStreamDelta>?
    private var endReported = false

    /// - Parameter dialects: the formats to expect; by default all, detected from the first frame
    ///   that tells.
    public init(dialects: Set<AIDialect> = Set(AIDialect.allCases)) {
        precondition(!dialects.isEmpty, "at least one dialect")
        self.dialects = dialects
        if dialects.count == 1 { choose(dialects.first!) }
    }

    /// The deltas from now on, ending when the stream ends. The sequence buffers what its reader has
    /// not taken yet; it exists only once asked for, so an accumulator read through callbacks or
    /// ``state`` alone buffers nothing.
    public var deltas: AsyncStream<AIStreamDelta> {
        if let stream { return stream }
        let (stream, continuation) = AsyncStream<AIStreamDelta>.makeStream()
        if endReported { continuation.finish() }
        self.stream = stream
        self.continuation = continuation
        return stream
    }

    /// Feeds raw `text/event-stream` bytes, split anywhere.
    public func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for output in parser.feed(bytes) {
            if case .event(let event) = output { feed(event: event) }
        }
    }

    /// Feeds one parsed SSE event (e.g. from ``SSETransport``).
    public func feed(event: SSEParsedEvent) {
        if decoder == nil {
            guard let found = AIDialect.detect(event), dialects.contains(found) else {
                state.unknownEvents += 1
                return
            }
            choose(found)
        }
        let decoded = decoder!.decode(event)
        if decoded.unknown { state.unknownEvents += 1 }
        if decoded.duplicate { state.duplicateEvents += 1 }
        for delta in decoded.deltas { apply(delta) }
    }

    /// The bytes have ended. Without the provider's end marker this records an `incomplete_stream`
    /// error (a truncated stream must not pass for a complete one) and closes open tool calls.
    public func finish() {
        parser.finish()
        if !state.finished && !endReported {
            apply(.error(AIStreamError(type: "incomplete_stream", message: "the stream ended before its end marker")))
            for c in state.choices.indices {
                if let found = state.completeAll(in: c) { report(.error(found)) }
            }
        }
        reportEnd()
    }

    /// Forgets everything, for the next stream (the dialect is detected afresh).
    public func reset() {
        continuation?.finish()
        continuation = nil
        stream = nil
        state = AIStreamState()
        parser = SSEParser()
        decoder = nil
        endReported = false
        if dialects.count == 1 { choose(dialects.first!) }
    }

    private func choose(_ dialect: AIDialect) {
        decoder = dialect.makeDecoder()
        state.dialect = dialect
    }

    private func apply(_ delta: AIStreamDelta) {
        let revealed = state.apply(delta)
        report(delta)
        if let revealed { report(.error(revealed)) }
        if case .end = delta { reportEnd() }
    }

    private func report(_ delta: AIStreamDelta) {
        continuation?.yield(delta)
        switch delta {
        case .text(let text, _): onText?(text)
        case .thinking(let text, _): onThinking?(text)
        case .toolUseStart(let choice, let index, _, _):
            if let call = toolCall(choice, index) { onToolUseStart?(call) }
        case .toolUseDelta(let choice, let index, let partial):
            if let call = toolCall(choice, index) { onToolUseDelta?(call, partial) }
        case .error(let error): onError?(error)
        default: break
        }
    }

    private func reportEnd() {
        guard !endReported else { return }
        endReported = true
        onStreamEnd?(state)
        continuation?.finish()
    }

    private func toolCall(_ choice: Int, _ index: Int) -> AIToolCall? {
        state.choices.first { $0.index == choice }?.toolCalls.first { $0.index == index }
    }
}

extension AIStreamAccumulator {
    /// The final state of a whole recorded stream.
    ///
    /// ```swift
    /// let state = AIStreamAccumulator.accumulate(Array(recorded.utf8))
    /// ```
    public static func accumulate<Bytes: Collection>(_ bytes: Bytes, dialects: Set<AIDialect> = Set(AIDialect.allCases)) -> AIStreamState
    where Bytes.Element == UInt8 {
        let accumulator = AIStreamAccumulator(dialects: dialects)
        accumulator.feed(bytes)
        accumulator.finish()
        return accumulator.state
    }
}
