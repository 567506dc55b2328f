#if !FUZZING
#if canImport(Glibc)
import Glibc
#endif

/// Without libFuzzer (a normal build), replays inputs through the fuzz target
/// (`SLUICE_FUZZ_TARGET`): each file named on the command line, so a crash a fuzzing run found can
/// be reproduced and debugged.
/// `scripts/fuzz` builds the real fuzzer (`-sanitize=fuzzer -DFUZZING`).
@main
struct Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                print("cannot open \(path)")
                exit(2)
            }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n <= 0 { break }
                bytes += buffer[..<n]
            }
            fclose(file)
            _ = bytes.withUnsafeBufferPointer { fuzzOne($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            print("ok \(path) (\(bytes.count) bytes)")
        }
    }
}
#endif
