import Foundation
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not
/// export (it is behind `_GNU_SOURCE`).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnActionsCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// A peer program started with `posix_spawn`, its output read with plain `read(2)`, its end with
/// `waitpid(2)`.
///
/// Not Foundation's `Process`: on Linux it watches children and pipes through CFSocket, whose
/// `select(2)` sets hold 1,024 descriptors, and a test process with many sockets open has higher
/// ones. `Process.run()` then crashed (bad pointer in memmove, EINTR in a `try!`) and exits went
/// unnoticed, which stalled the suite about one run in eight.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// Read ends of the child's stdout and stderr (nil when not captured).
    private let stdoutFD: Int32?
    private let stderrFD: Int32?
    private let status = Locked<Int32?>(nil)

    enum Output { case capture, discard }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Spawns one at a time: a pipe made by one spawn must not leak into a child of another before it
    /// is marked close-on-exec.
    private static let spawnLock = Lock()

    convenience init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                     stdout: Output = .capture, stderr: Output = .capture) throws {
        let spawned = try Self.spawnLock.withLock {
            try Self.spawn(executable, arguments, environment: environment, stdout: stdout, stderr: stderr)
        }
        self.init(pid: spawned.pid, stdoutFD: spawned.stdout, stderrFD: spawned.stderr)
    }

    private init(pid: pid_t, stdoutFD: Int32?, stderrFD: Int32?) {
        self.pid = pid
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
    }

    private static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]?,
                              stdout: Output, stderr: Output) throws -> (pid: pid_t, stdout: Int32?, stderr: Int32?) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var closeInParent: [Int32] = []
        func pipeFor(_ output: Output, target: Int32) throws -> Int32? {
            switch output {
            case .discard:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
                return nil
            case .capture:
                var fds: [Int32] = [0, 0]
                guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: \(errno)") }
                // Close-on-exec, so other children spawned meanwhile do not hold our pipe open (the
                // dup2 in the child clears the flag on its own copy).
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                posix_spawn_file_actions_adddup2(&actions, fds[1], target)
                closeInParent.append(fds[1])
                return fds[0]
            }
        }
        let stdoutFD = try pipeFor(stdout, target: 1)
        let stderrFD = try pipeFor(stderr, target: 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Nothing else of ours reaches the child: a child holding a copy of a server's socket would
        // keep that connection open after the server closed it.
        guard spawnActionsCloseFrom(&actions, 3) == 0 else { throw SpawnError(description: "addclosefrom failed") }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        // The child starts with our thread's signal mask and dispositions: Dispatch threads block most
        // signals, and a child that inherits that ignores SIGTERM. Give it an empty mask and defaults.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, env)
        closeInParent.forEach { close($0) }
        guard rc == 0 else {
            [stdoutFD, stderrFD].compactMap { $0 }.forEach { close($0) }
            throw SpawnError(description: "posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        return (child, stdoutFD, stderrFD)
    }

    deinit {
        [stdoutFD, stderrFD].compactMap { $0 }.forEach { close($0) }
    }

    /// Everything the child writes to stdout until it closes it. Blocking: call from ``blocking``.
    func readStdoutToEnd() -> [UInt8] { stdoutFD.map(Self.readToEnd) ?? [] }
    func readStderrToEnd() -> [UInt8] { stderrFD.map(Self.readToEnd) ?? [] }

    /// One line of stdout (without the LF), or what came before the end. Blocking.
    func readStdoutLine() -> String {
        guard let fd = stdoutFD else { return "" }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == 10 { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }

    private static func readToEnd(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return out }
            out += chunk[0..<n]
        }
    }

    /// Waits for the child to end; its exit status (128 + signal when killed). Blocking.
    @discardableResult
    func wait() -> Int32 {
        if let known = status.withLock({ $0 }) { return known }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let code = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        status.withLock { $0 = code }
        return code
    }

    var isRunning: Bool {
        if status.withLock({ $0 }) != nil { return false }
        var raw: Int32 = 0
        let done = waitpid(pid, &raw, WNOHANG)
        if done == pid {
            status.withLock { $0 = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F) }
            return false
        }
        return true
    }

    func signal(_ number: Int32) { if isRunning { kill(pid, number) } }

    /// SIGTERM, and the child reaped on a thread of its own (no zombie is left).
    func stop() {
        signal(SIGTERM)
        Thread { self.wait() }.start()
    }
}
