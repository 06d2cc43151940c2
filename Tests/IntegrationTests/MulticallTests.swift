import Foundation
import PortalBase
import Testing

/// portal-multicall as bin/install installs it: one binary, `portal` and
/// every plumbing name a link to it, each name the command it stands for.
@Suite("Multi-call binary")
struct MulticallTests {
    @Test("called by an executable's name, it answers --help and a bad option as that executable does",
          arguments: (try? Manual.executables()) ?? [])
    func sameAsTheExecutable(_ name: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-multicall-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let link = folder.appendingPathComponent(name).path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Binaries.path("portal-multicall"))
        for arguments in [["--help"], ["--no-such-option"]] {
            let own = try run(name, arguments)
            let multi = try run(link, arguments)
            #expect(multi.status == own.status, "\(name) \(arguments): exit \(multi.status), not \(own.status)")
            #expect(multi.stdout == own.stdout, "\(name) \(arguments): \(multi.stdout.prefix(300))")
            #expect(multi.stderr == own.stderr, "\(name) \(arguments): \(multi.stderr.prefix(300))")
        }
        #expect(try run(link, ["--help"]).stdout.contains("USAGE: \(name)"))
    }
}
