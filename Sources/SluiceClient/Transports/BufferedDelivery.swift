import SluiceCore

/// Hands one connection's parsed events to its transport's buffer, in order. When a `.block`
/// buffer is full the socket stops being read, and reading resumes once the consumer has made room
/// (and the user has not paused the transport). Loop thread only.
final class BufferedDelivery {
    private let buffer: MessageBuffer<TransportEvent>
    private let loop: EventLoop
    private var pending: [TransportEvent] = []
    private weak var connection: (any ClientStreamConnection)?
    private let userPaused: () -> Bool
    private let counted: (Int) -> Void
    private var whenEmpty: (() -> Void)?

    init(buffer: MessageBuffer<TransportEvent>, loop: EventLoop, userPaused: @escaping () -> Bool, counted: @escaping (Int) -> Void) {
        self.buffer = buffer
        self.loop = loop
        self.userPaused = userPaused
        self.counted = counted
    }

    func attach(_ connection: any ClientStreamConnection) { self.connection = connection }

    /// Events are waiting for the buffer to make room (the socket is paused meanwhile).
    var isWaiting: Bool { !pending.isEmpty }

    /// The socket is not being read on purpose: a full buffer, or the user's pause.
    var isHoldingReads: Bool { !pending.isEmpty || userPaused() }

    func deliver(_ events: [TransportEvent]) {
        pending += events
        if !events.isEmpty { counted(events.count) }
        let me = UnsafeSendable(self)
        let loop = self.loop
        if !pending.isEmpty {
            // All of a read's events in one offer: a reader waiting for the next is woken once per read.
            let taken = buffer.offer(contentsOf: pending) { loop.execute { me.value.resume() } }
            pending.removeFirst(taken)
            if !pending.isEmpty {
                connection?.pauseReading()
                return
            }
        }
        if let action = whenEmpty {
            whenEmpty = nil
            action()
        }
    }

    /// Runs `action` once every event handed over so far is in the buffer: a connection's end must
    /// not overtake the events it carried.
    func afterDelivery(_ action: @escaping () -> Void) {
        if pending.isEmpty { action() } else { whenEmpty = action }
    }

    private func resume() {
        deliver([])
        if pending.isEmpty && !userPaused() { connection?.resumeReading() }
    }
}
