import Foundation
import SluiceCore

/// The package root, for scripts and the test venv.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

struct ProcessResult: Sendable {
    var stdout: String
    var stderr: String
    var status: Int32
}

/// Runs a peer program to completion (on a thread of its own) and returns its raw output.
///
/// Both pipes are drained at once (a child that fills its stderr pipe while we wait for stdout's end
/// would otherwise block forever), and a child still running after `deadline` is killed and reported
/// with what it printed, so a hung peer fails its test instead of stalling the suite.
func runBytes(_ executable: String, _ arguments: [String], deadline: Duration = .seconds(120)) async throws -> (stdout: [UInt8], stderr: [UInt8], status: Int32) {
    try await blocking {
        let child = try ChildProcess(executable, arguments)
        let stderrBox = Locked<[UInt8]>([])
        let stderrDone = DispatchSemaphore(value: 0)
        Thread {
            stderrBox.withLock { $0 = child.readStderrToEnd() }
            stderrDone.signal()
        }.start()
        let killed = Locked(false)
        let watchdog = DispatchWorkItem {
            guard child.isRunning else { return }
            killed.withLock { $0 = true }
            child.signal(SIGKILL)
        }
        let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: watchdog)
        let stdout = child.readStdoutToEnd()
        stderrDone.wait()
        let status = child.wait()
        watchdog.cancel()
        let stderr = stderrBox.withLock { $0 }
        if killed.withLock({ $0 }) {
            let command = ([executable] + arguments).joined(separator: " ")
            throw TestFailure("""
                \(command) still ran after \(deadline) and was killed
                stdout: \(String(decoding: stdout.suffix(2000), as: UTF8.self))
                stderr: \(String(decoding: stderr.suffix(2000), as: UTF8.self))
                """)
        }
        return (stdout, stderr, status)
    }
}

/// Runs a peer program to completion and returns its output as text.
func run(_ executable: String, _ arguments: [String]) async throws -> ProcessResult {
    let result = try await runBytes(executable, arguments)
    return ProcessResult(
        stdout: String(decoding: result.stdout, as: UTF8.self), stderr: String(decoding: result.stderr, as: UTF8.self),
        status: result.status)
}

/// Runs `Tests/Python/h2_probe.py` in the venv that scripts/venv makes and decodes its JSON.
func h2Probe(_ arguments: [String]) async throws -> [String: Any] {
    let python = packageRoot.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw TestFailure("no .venv: run scripts/venv (scripts/test does)")
    }
    let script = packageRoot.appendingPathComponent("Tests/Python/h2_probe.py").path
    let result = try await run(python, [script] + arguments)
    guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
        throw TestFailure("h2_probe \(arguments) failed (\(result.status)): \(result.stderr)")
    }
    return object
}
