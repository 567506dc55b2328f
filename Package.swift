// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "Sluice", targets: ["Sluice"]),
        .library(name: "SluiceClient", targets: ["SluiceClient"]),
        .library(name: "SluiceAI", targets: ["SluiceAI"]),
        .executable(name: "sluice", targets: ["sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
    ],
    targets: [
        // C libraries from Debian (scripts/bootstrap installs them).
        .systemLibrary(
            name: "CLibevent", pkgConfig: "libevent",
            providers: [.apt(["libevent-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CNGHTTP2", pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(
            name: "CHTTPParser",
            providers: [.apt(["libhttp-parser-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // The LLM stream decoders' JSON reader: Foundation's JSONSerialization costs ~12 µs a frame.
        .systemLibrary(
            name: "CCJSON", pkgConfig: "libcjson",
            providers: [.apt(["libcjson-dev"])]),
        // Only what Swift cannot import: function-like macros and header-order fixes.
        .target(name: "CSluiceShims", dependencies: ["CLibevent", "COpenSSL"]),

        .target(
            name: "SluiceCore",
            dependencies: [
                "CLibevent", "CSluiceShims", "CHTTPParser", "CZlib", "COpenSSL",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
        .target(
            name: "Sluice",
            dependencies: [
                "SluiceCore", "SluiceAI", "CLibevent", "CSluiceShims", "CNGHTTP2", "COpenSSL",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "SluiceClient",
            dependencies: [
                "SluiceCore", "CLibevent", "COpenSSL", "CNGHTTP2",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),
        // LLM streams: the accumulator (decoders per provider dialect) and the mock providers' wire formats.
        .target(name: "SluiceAI", dependencies: ["SluiceCore", "CCJSON"]),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "Sluice", "SluiceClient", "SluiceCore", "SluiceAI", "CLibevent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // jemalloc (Debian libjemalloc-dev) in release builds: per-request objects freed in batches
            // overflowed glibc's per-thread caches (malloc was ~13% of a small h2 response, 12–18%
            // less server CPU with jemalloc). Debug and sanitizer builds keep the system allocator.
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux], configuration: .release))]),

        // libFuzzer targets for the protocol parsers (scripts/fuzz); a replay tool in normal builds.
        .executableTarget(name: "SluiceFuzz", dependencies: ["SluiceCore", "SluiceAI"]),

        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "SluiceClientTests", dependencies: ["SluiceClient", "SluiceCore"]),
        .testTarget(name: "SluiceAITests", dependencies: ["SluiceAI", "SluiceCore"]),
        .testTarget(
            name: "SluiceTests",
            dependencies: [
                "Sluice", "SluiceCore", "SluiceClient", "SluiceAI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
