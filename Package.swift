// swift-tools-version:6.0
import PackageDescription

// Our own targets build with warnings as errors, so that a warning fails the
// build and CI (bin/test); the dependencies keep their own settings.
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

// One thin executable per command (Sources/Commands/NAME/main.swift): an entry
// point over a commands library. bin/install and ManPageTests read this list.
let plumbing = [
    "portal-spec", "portal-sign", "portal-ec2", "portal-find", "portal-spot-request",
    "portal-volume-attach", "portal-mount", "portal-sync", "portal-spot-cancel",
]

// What each executable links: its commands library, and through it only the
// libraries that library needs (no libssh2 in portal-spec or portal-sign).
let linked: [String: [Target.Dependency]] = [
    "portal-spec": ["PlumbingCommands"],
    "portal-sign": ["PlumbingCommands"],
    "portal-ec2": ["PlumbingCommands"],
    "portal-find": ["PlumbingCommands"],
    "portal-spot-request": ["PlumbingCommands"],
    "portal-volume-attach": ["PlumbingCommands"],
    "portal-spot-cancel": ["PlumbingCommands"],
    "portal-mount": ["RemoteCommands"],
    "portal-sync": ["RemoteCommands"],
    "portal": ["PorcelainCommands"],
]

// Every command in one binary, dispatching on the name it is called by:
// bin/install installs it as portal, with the plumbing names as links to it.
let multicall = "portal-multicall"

let package = Package(
    name: "portal-gun",
    platforms: [.macOS(.v13)],
    products: (plumbing + ["portal"]).map { .executable(name: $0, targets: [$0]) } + [.executable(name: multicall, targets: [multicall])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, found through pkg-config. (libcurl is not linked: PortalAWS
        // loads it on the first request; CCurlShim uses only its headers.)
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        // Typed wrappers for what Swift cannot call directly (variadic functions, macros).
        .target(name: "CCurlShim"),
        .target(name: "CSSH2Shim", dependencies: ["CSSH2"]),

        .target(name: "PortalBase", swiftSettings: strict),
        // SHA-256 and HMAC over libcrypto, for PortalAWS and PortalSSH only.
        .target(name: "PortalCrypto", dependencies: ["CCrypto"], swiftSettings: strict),
        .target(name: "PortalAWS", dependencies: ["PortalBase", "PortalCrypto", "CCurlShim"], swiftSettings: strict),
        // The spec, the portal document and what it holds: no AWS client, no SSH.
        .target(name: "PortalModel", dependencies: ["PortalBase"], swiftSettings: strict),
        .target(name: "PortalCore", dependencies: ["PortalBase", "PortalModel", "PortalAWS"], swiftSettings: strict),
        .target(name: "PortalSSH", dependencies: ["PortalBase", "PortalModel", "PortalCrypto", "CSSH2", "CSSH2Shim"],
                swiftSettings: strict),
        .target(name: "PortalSync", dependencies: ["PortalBase", "PortalModel", "PortalSSH"], swiftSettings: strict),
        // What every command shares: options, reporting, progress.
        .target(name: "PortalCLI", dependencies: ["PortalBase", "PortalModel", "PortalAWS", "PortalCore", argumentParser],
                swiftSettings: strict),
        // The commands, as libraries, split by what they link: the plumbing
        // that needs only AWS; the remote plumbing (SSH, channels); the porcelain.
        .target(name: "PlumbingCommands", dependencies: [
            "PortalBase", "PortalModel", "PortalAWS", "PortalCore", "PortalCLI", argumentParser,
        ],
                swiftSettings: strict),
        .target(name: "RemoteCommands", dependencies: [
            "PortalBase", "PortalModel", "PortalAWS", "PortalCore", "PortalSSH", "PortalSync", "PortalCLI", argumentParser,
        ], swiftSettings: strict),
        .target(name: "PorcelainCommands", dependencies: [
            "PortalBase", "PortalModel", "PortalAWS", "PortalCore", "PortalSSH", "PortalSync", "PortalCLI",
            "PlumbingCommands", "RemoteCommands", argumentParser,
        ], swiftSettings: strict),
    ] + (plumbing + ["portal"]).map { name in
        .executableTarget(name: name, dependencies: linked[name]!, path: "Sources/Commands/\(name)", swiftSettings: strict)
    } + [
        .executableTarget(name: multicall, dependencies: ["PlumbingCommands", "RemoteCommands", "PorcelainCommands"],
                          path: "Sources/Commands/\(multicall)", swiftSettings: strict),
        .testTarget(name: "PortalBaseTests", dependencies: ["PortalBase"], swiftSettings: strict),
        .testTarget(name: "PortalCryptoTests", dependencies: ["PortalCrypto"], swiftSettings: strict),
        .testTarget(name: "PortalAWSTests", dependencies: ["PortalAWS"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PortalModelTests", dependencies: ["PortalBase", "PortalModel"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PortalCoreTests", dependencies: ["PortalModel", "PortalCore"], swiftSettings: strict),
        .testTarget(name: "PortalSSHTests", dependencies: ["PortalModel", "PortalSSH"], swiftSettings: strict),
        .testTarget(name: "PortalSyncTests", dependencies: ["PortalModel", "PortalSync"], swiftSettings: strict),
        .testTarget(name: "CommandsTests", dependencies: [
            "PortalBase", "PortalModel", "PortalCore", "PortalCLI", "PlumbingCommands", "RemoteCommands", "PorcelainCommands",
            argumentParser,
        ], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["PortalBase"], exclude: ["Fixtures"], swiftSettings: strict),
    ]
)
