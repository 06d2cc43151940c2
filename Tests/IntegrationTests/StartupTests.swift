import Foundation
import PortalBase
import Testing

/// What an executable costs before it does anything (README, "Benchmarks").
@Suite("Start-up")
struct StartupTests {
    #if os(Linux)
    @Test("no executable links libcurl: the first request loads it (dlopen)",
          arguments: ((try? Manual.executables()) ?? []) + ["portal-multicall"])
    func noLibcurlAtStart(_ name: String) throws {
        // ld.so lists what it would load and runs nothing (what ldd(1) does).
        let loaded = try run(name, environment: ["LD_TRACE_LOADED_OBJECTS": "1"])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(loaded.stdout.contains("libc.so"), "\(loaded.stdout)")
        #expect(!loaded.stdout.contains("libcurl"), "\(name) loads libcurl at start: \(loaded.stdout)")
    }
    #endif
}
