import PortalBase

/// A spec refused: where, and what was wrong. Its message lists every problem
/// found, one a line, reading the spec from top to bottom (see `validate`), as
/// Portal Gun 0.x listed them; `warnings` holds what was noticed on the way
/// (unknown keys, coerced values), which a command prints before the error.
public struct SpecError: PortalFailure, Equatable {
    /// The spec's name in messages: a path as the user gave it, or `<stdin>`.
    public var file: String
    /// Every problem, `field.path: what was expected, found what`, in order;
    /// never empty.
    public var problems: [String]
    public var warnings: [String]

    public init(file: String, problems: [String], warnings: [String] = []) {
        self.file = file
        self.problems = problems
        self.warnings = warnings
    }

    public var exitStatus: ExitStatus { .dataError }

    /// `'gpu.json': spot_instance.instance_type: expected a string, found 42`,
    /// and one such line for each further problem.
    public var description: String {
        (problems.isEmpty ? ["invalid"] : problems).map { SpecError.label(file) + ": " + $0 }
            .joined(separator: "\n")
    }

    /// A file name as messages quote it; a pseudo-name such as `<stdin>` is not quoted.
    public static func label(_ file: String) -> String {
        file.hasPrefix("<") && file.hasSuffix(">") ? file : "'\(file)'"
    }
}

/// Where a value sits in the document: `persistent_volumes[1].mount_point`.
struct FieldPath: CustomStringConvertible {
    var description = ""
    var isRoot: Bool { description.isEmpty }
    func key(_ key: String) -> FieldPath {
        let key = abbreviated(key)
        return FieldPath(description: isRoot ? key : description + "." + key)
    }
    func index(_ index: Int) -> FieldPath { FieldPath(description: description + "[\(index)]") }
}
