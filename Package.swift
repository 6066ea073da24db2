// swift-tools-version: 6.0
import PackageDescription

/// The executables the toolkit installs; each is a thin `main.swift` over `SyncCommands`.
let tools = [
    "sync", "sync-init", "sync-folders", "sync-config", "sync-watch", "sync-commit",
    "sync-log", "sync-show", "sync-restore", "sync-status", "sync-keys", "sync-serve", "sync-pull",
    "sync-conflicts", "sync-join", "sync-versions", "sync-diff", "sync-notify", "sync-peer", "sync-daemon", "sync-confirm", "sync-prune", "sync-forget",
    "sync-history",
]

let package = Package(
    name: "sync",
    platforms: [.macOS(.v13)],
    products: tools.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CRsync", providers: [.apt(["librsync-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .target(name: "SyncCore", dependencies: [
            "CZlib",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "SyncGit", dependencies: ["CGit2", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "SyncDelta", dependencies: ["CRsync"]),
        .target(name: "SyncSSH", dependencies: ["CSSH2"]),
        .target(name: "SyncProtocol"),
        .target(name: "SyncEngine", dependencies: [
            "SyncCore", "SyncGit", "SyncDelta", "SyncProtocol",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SyncCommands", dependencies: [
            "SyncEngine", "SyncCore", "SyncGit", "SyncSSH", "SyncProtocol",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "sync-docgen", dependencies: ["SyncCommands"]),
        // bench/link's two ends (not installed): frames through our libssh2 link.
        .executableTarget(name: "sync-linkbench", dependencies: ["SyncEngine", "SyncSSH", "SyncProtocol"],
                          path: "bench/LinkBench"),
        .target(name: "SyncTestSupport", path: "Tests/SyncTestSupport"),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "SyncTestSupport"]),
        .testTarget(name: "SyncGitTests", dependencies: ["SyncGit", "SyncTestSupport"]),
        .testTarget(name: "SyncDeltaTests", dependencies: ["SyncDelta"]),
        .testTarget(name: "SyncSSHTests", dependencies: ["SyncSSH"]),
        .testTarget(name: "SyncProtocolTests", dependencies: ["SyncProtocol", "SyncTestSupport"]),
        .testTarget(name: "SyncEngineTests", dependencies: [
            "SyncEngine", "SyncCore", "SyncGit", "SyncProtocol", "SyncTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "EndToEndTests", dependencies: ["SyncCommands", "SyncCore", "SyncEngine", "SyncProtocol", "SyncSSH", "SyncTestSupport"]),
    ] + tools.map { .executableTarget(name: $0, dependencies: ["SyncCommands"]) },
    swiftLanguageModes: [.v6]
)
