import Foundation
import Testing

/// No library or command imports the full Foundation (ICU: about 50 MB more
/// in every binary and 4 MiB more at every start; README, "Benchmarks"):
/// FoundationEssentials comes through PortalBase (Imports.swift), which
/// falls back to Foundation only where Essentials does not exist.
struct ImportsTests {
    @Test("no source file imports Foundation, FoundationXML or FoundationNetworking; PortalBase/Imports.swift gives FoundationEssentials")
    func essentialsOnly() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let files = (FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 50, "\(sources.path) holds \(files.count) Swift files")
        for file in files where file != "PortalBase/Imports.swift" {
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
            let imports = text.split(separator: "\n").filter { line in
                guard let range = line.firstRange(of: "import Foundation") else { return false }
                return !line[range.upperBound...].hasPrefix("Essentials")
            }
            #expect(imports.isEmpty, "Sources/\(file): \(imports.joined(separator: "; ")): import PortalBase instead")
        }
    }
}
