import SluiceCore

/// The open connections of one loop; the only owner of each connection. Loop thread only, except
/// for the shared count.
final class ConnectionRegistry: @unchecked Sendable {
    let loop: EventLoop
    private var connections: [ObjectIdentifier: any ServerConnection] = [:]
    private let openCount: Locked<Int>

    init(loop: EventLoop, openCount: Locked<Int>) {
        self.loop = loop
        self.openCount = openCount
    }

    func add(_ connection: any ServerConnection) {
        connections[ObjectIdentifier(connection)] = connection
        openCount.withLock { $0 += 1 }
    }

    /// A connection changes hands (protocol detection found its protocol): same count, new owner.
    func replace(_ old: any ServerConnection, with new: any ServerConnection) {
        connections.removeValue(forKey: ObjectIdentifier(old))
        connections[ObjectIdentifier(new)] = new
    }

    func remove(_ connection: any ServerConnection) {
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
