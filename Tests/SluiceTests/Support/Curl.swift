/// Runs the real `curl` (installed by scripts/bootstrap) and returns its output.
func curl(_ arguments: [String], timeout: Int = 20) async throws -> (stdout: [UInt8], stderr: String, status: Int32) {
    let result = try await runBytes("/usr/bin/curl", ["--silent", "--show-error", "--max-time", String(timeout)] + arguments)
    return (result.stdout, String(decoding: result.stderr, as: UTF8.self), result.status)
}
