// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ebpf-iptables",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ebpf-iptables", targets: ["ebpf-iptables"]),
        .library(name: "IptParse", targets: ["IptParse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Text -> typed AST and diagnostics. Pure Swift, no C.
        .target(name: "IptParse"),
        // AST -> map tables. Knows nothing of libbpf.
        .target(name: "Compiler", dependencies: ["IptParse"]),
        // libbpf reaches Swift only through this module, and only Loader imports it.
        .systemLibrary(name: "CLibbpf", path: "Sources/CLibbpf"),
        .target(name: "Loader", dependencies: ["CLibbpf"]),
        .executableTarget(
            name: "ebpf-iptables",
            dependencies: [
                "IptParse", "Compiler", "Loader",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Fixture locations, the malformed-case reader, process and namespace helpers.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "IptParseTests", dependencies: ["IptParse", "TestSupport"]),
        .testTarget(name: "CompilerTests", dependencies: ["Compiler", "IptParse", "TestSupport"]),
        .testTarget(name: "LoaderTests", dependencies: ["Loader"]),
        .testTarget(name: "EndToEndTests", dependencies: ["IptParse", "TestSupport"]),
    ]
)
