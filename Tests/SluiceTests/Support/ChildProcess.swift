import Foundation
import SluiceCore

/// Launching peers with Foundation's `Process` on Linux, safely: `run()` has crashed under concurrent
/// launches (a `try!` inside Foundation meeting EINTR), and `waitUntilExit()` parks its thread on a
/// run loop that is not guaranteed to see the exit (swift-corelibs-foundation; suites have hung on it).
/// So launches happen one at a time, and exits are observed through `terminationHandler`, set before
/// `run()` so a fast exit cannot be missed.
enum ChildProcess {
    private static let launchLock = Lock()

    /// Starts `process`; the returned exit is signalled when it ends.
    static func launch(_ process: Process) throws -> ChildExit {
        let exit = ChildExit()
        process.terminationHandler = { ended in exit.finish(ended.terminationStatus) }
        try launchLock.withLock { try process.run() }
        return exit
    }
}

/// The end of a launched child.
final class ChildExit: @unchecked Sendable {
    private let ended = DispatchSemaphore(value: 0)
    private let code = Locked<Int32?>(nil)

    fileprivate func finish(_ status: Int32) {
        code.withLock { $0 = status }
        ended.signal()
    }

    /// Blocks until the child has exited; its status. Call from a thread of its own (``blocking``).
    @discardableResult
    func wait() -> Int32 {
        ended.wait()
        ended.signal()  // later waiters pass too
        return code.withLock { $0 } ?? -1
    }
}
