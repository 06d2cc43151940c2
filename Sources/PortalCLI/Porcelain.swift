import ArgumentParser
import PortalBase
import PortalCore
import PortalModel

/// What the porcelain commands share: a portal named on the command line.
public enum Porcelain {
    /// `gpu` means `./gpu.json`; a path (with a `/` or ending in `.json`) is
    /// taken as it is. The portal's name is the file's name without `.json`.
    public static func specPath(_ name: String) -> String {
        name.hasSuffix(".json") || name.contains("/") ? name : name + ".json"
    }

    /// Reads and validates the portal's spec; warnings go to stderr.
    public static func document(_ name: String, checkFiles: Bool = true) throws -> PortalDocument {
        let (document, warnings) = try PortalDocument.fromSpecFile(specPath(name), checkFiles: checkFiles)
        for warning in warnings { Report.warning(warning) }
        return document
    }
}

/// The NAME argument of the porcelain commands.
public struct PortalName: ParsableArguments {
    @Argument(help: ArgumentHelp("The portal: NAME for ./NAME.json, or a path to a spec file.", valueName: "NAME"),
              completion: .custom { _, _, _ in Porcelain.specNames() })
    public var name: String

    public init() {}
}

extension Porcelain {
    /// The *.json specs in the current folder, without `.json`, for completion.
    public static func specNames() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: ".")) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }
}
