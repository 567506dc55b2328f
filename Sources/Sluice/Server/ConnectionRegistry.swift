import SluiceCore

/// The open connections of one loop; the only owner of each connection. Loop thread only, except
/// for the shared count.
final class ConnectionRegistry: @unchecked Sendable {
    let loop: EventLoop
    private var connections: [ObjectIdentifier: HTTP1Connection] = [:]
    private let openCount: Locked<Int>

    init(loop: EventLoop, openCount: Locked<Int>) {
        self.loop = loop
        self.openCount = openCount
    }

    func add(_ connection: HTTP1Connection) {
        connections[ObjectIdentifier(connection)] = connection
        openCount.withLock { $0 += 1 }
    }

    func remove(_ connection: HTTP1Connection) {
        if connections.removeValue(forKey: ObjectIdentifier(connection)) != nil {
            openCount.withLock { $0 -= 1 }
        }
    }

    func beginShutdown() {
        for connection in Array(connections.values) { connection.beginShutdown() }
    }

    func closeAll(reason: String) {
        for connection in Array(connections.values) { connection.close(reason: reason) }
    }
}
