// swift-tools-version:6.0
import PackageDescription

// One thin executable per command; all logic lives in the library targets.
let plumbing = [
    "portal-spec", "portal-sign", "portal-ec2", "portal-find", "portal-spot-request",
    "portal-volume-attach", "portal-mount", "portal-sync", "portal-spot-cancel",
]

// Our own targets build with warnings as errors, so that a warning fails the
// build and CI (bin/test); the dependencies keep their own settings.
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

func command(_ name: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "PortalBase", "PortalAWS", "PortalCore", "PortalSSH", "PortalSync", "PortalCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        path: "Sources/Commands/\(name)",
        swiftSettings: strict)
}

let package = Package(
    name: "portal-gun",
    platforms: [.macOS(.v13)],
    products: (plumbing + ["portal"]).map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, found through pkg-config.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        // Typed wrappers for what Swift cannot call directly (variadic functions, macros).
        .target(name: "CShim", dependencies: ["CCurl", "CSSH2"]),

        .target(name: "PortalBase", swiftSettings: strict),
        .target(name: "PortalAWS", dependencies: ["PortalBase", "CCurl", "CCrypto", "CShim"], swiftSettings: strict),
        .target(name: "PortalCore", dependencies: ["PortalBase", "PortalAWS"], swiftSettings: strict),
        .target(name: "PortalSSH", dependencies: ["PortalBase", "PortalCore", "CSSH2", "CCrypto", "CShim"],
                swiftSettings: strict),
        .target(name: "PortalSync", dependencies: ["PortalBase", "PortalCore", "PortalSSH"], swiftSettings: strict),
        .target(name: "PortalCLI", dependencies: [
            "PortalBase", "PortalAWS", "PortalCore", "PortalSSH", "PortalSync",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
    ] + (plumbing + ["portal"]).map(command) + [
        .testTarget(name: "PortalBaseTests", dependencies: ["PortalBase"], swiftSettings: strict),
        .testTarget(name: "PortalAWSTests", dependencies: ["PortalAWS"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PortalCoreTests", dependencies: ["PortalCore"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PortalSSHTests", dependencies: ["PortalSSH"], swiftSettings: strict),
        .testTarget(name: "PortalSyncTests", dependencies: ["PortalSync"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["PortalBase"], exclude: ["Fixtures"], swiftSettings: strict),
    ]
)
