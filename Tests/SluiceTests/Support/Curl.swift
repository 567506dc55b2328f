import Foundation

/// Runs the real `curl` (installed by scripts/bootstrap) and returns its output.
func curl(_ arguments: [String], timeout: Int = 20) async throws -> (stdout: [UInt8], stderr: String, status: Int32) {
    try await blocking {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["--silent", "--show-error", "--max-time", String(timeout)] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ([UInt8](stdout), String(decoding: stderr, as: UTF8.self), process.terminationStatus)
    }
}
