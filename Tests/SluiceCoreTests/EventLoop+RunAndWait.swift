import CLibevent
import Foundation
@testable import SluiceCore

extension EventLoop {
    /// Runs `body` on the loop thread and waits for its result (tests only; never from the loop).
    func runAndWait<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        execute {
            result.withLock { $0 = body() }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }
}

/// A connected Unix stream socket pair: `mine` non-blocking (for a bufferevent), `peer` blocking (for the
/// test's side).
func makeSocketPair() -> (mine: Int32, peer: Int32) {
    var fds: [Int32] = [0, 0]
    precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
    evutil_make_socket_nonblocking(fds[0])
    return (fds[0], fds[1])
}
