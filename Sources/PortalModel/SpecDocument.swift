import PortalBase

/// The JSON object the plumbing passes along: `{"name": NAME, "spec": {…}}`,
/// which `portal-spec` writes, and to which each later stage adds its own keys
/// (`"instance"`, `"attachments"`, `"mounts"`, …). Keys this type does not
/// know are kept, in their order, and written back by `json`.
public struct PortalDocument: Equatable, Sendable {
    /// The portal's name: its spec file's name without `.json`.
    public var name: String
    /// The validated spec.
    public var spec: PortalSpec
    /// Every member as read, for passing through what this stage did not write.
    private var members: JSONObject
    /// The spec as read, so that an unchanged spec is written back as it came.
    private var specAsRead: PortalSpec?

    public init(name: String, spec: PortalSpec) {
        self.name = name
        self.spec = spec
        self.members = JSONObject()
        self.specAsRead = nil
    }

    /// Reads a document a previous stage wrote, validating its `"spec"` again.
    /// Problems are a `SpecError` (exit 65) whose paths start at the document:
    /// `<stdin>: spec.spot_instance.image_id: required, not found`.
    ///
    /// - Parameters:
    ///   - source: the document's name in messages.
    ///   - checkFiles: check the identity file on this machine; a stage that
    ///     never uses SSH (finding or closing a portal) may pass false.
    public init(json: JSON, source: String = "<stdin>", checkFiles: Bool = true) throws {
        guard case .object(let object) = json else {
            throw SpecError(file: source, problems: [
                "expected a portal document (an object with \"name\" and \"spec\"), found \(json.shortDescription)",
            ])
        }
        var problems: [String] = []
        var name = ""
        switch object["name"] {
        case nil:
            problems.append("name: required, not found")
        case .string(let string)? where PortalDocument.nameProblem(string) == nil:
            name = string
        case let value?:
            let problem = value.stringValue.flatMap(PortalDocument.nameProblem) ?? "expected a string"
            problems.append("name: \(problem), found \(value.shortDescription)")
        }
        guard let specJSON = object["spec"] else {
            throw SpecError(file: source, problems: problems + ["spec: required, not found"])
        }
        let checker = SpecChecker(file: source, strict: false, directory: SpecPaths.currentDirectory(),
                                  home: SpecPaths.home(), checkFiles: checkFiles)
        let spec: PortalSpec
        do {
            spec = try checker.check(specJSON, at: FieldPath().key("spec")).spec
        } catch let error as SpecError {
            throw SpecError(file: source, problems: problems + error.problems, warnings: error.warnings)
        }
        if !problems.isEmpty { throw SpecError(file: source, problems: problems) }
        self.name = name
        self.spec = spec
        self.members = object
        self.specAsRead = spec
    }

    /// The document to write: every member as read, with `"name"` and `"spec"`
    /// as they are now (an unchanged spec is passed through untouched).
    public var json: JSON {
        // "name" and "spec" first, as portal-spec writes them, whoever made
        // the document; then every other member in its order.
        var object = JSONObject()
        object["name"] = .string(name)
        if let asRead = members["spec"], spec == specAsRead {
            object["spec"] = asRead
        } else {
            object["spec"] = spec.toJSON()
        }
        for (key, value) in members where key != "name" && key != "spec" { object[key] = value }
        return .object(object)
    }

    /// The members other stages add: `document["instance"] = …`. `"name"` and
    /// `"spec"` are the properties' business: `json` writes those.
    public subscript(key: String) -> JSON? {
        get { members[key] }
        set { members[key] = newValue }
    }

    /// Why a name cannot name a portal, or nil if it can. A name ends up in
    /// tags and file names: it must not be empty, hold a '/' or control characters.
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "expected a portal name" }
        if name.contains("/") { return "expected a portal name without '/'" }
        if name.count > 256 { return "expected a portal name of at most 256 characters (it is an AWS tag value)" }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "expected a portal name without control characters"
        }
        return nil
    }

    /// A spec file's portal name: its file name without `.json`.
    public static func name(forSpecFile path: String) -> String {
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        return fileName.hasSuffix(".json") ? String(fileName.dropLast(5)) : fileName
    }
}

// MARK: - From a spec to a document: what portal-spec does

extension PortalDocument {
    /// Reads a spec file, validates it, and makes its portal document, named
    /// after the file unless `name` is given. Every problem is a `SpecError`
    /// (exit 65): `'x.json': no such file`, `'x.json': not JSON: line 3, …`.
    public static func fromSpecFile(_ path: String, name: String? = nil, strict: Bool = false,
                                    home: String? = nil, checkFiles: Bool = true,
                                    filesWarn: Bool = false) throws -> (document: PortalDocument, warnings: [String]) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw SpecError(file: path, problems: ["no such file"])
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw SpecError(file: path, problems: ["is a folder, not a spec file"]) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, problems: ["cannot be read"])
        }
        return try fromSpec(text: Array(data), file: path, name: name ?? PortalDocument.name(forSpecFile: path),
                            strict: strict, home: home, checkFiles: checkFiles, filesWarn: filesWarn)
    }

    /// Validates spec text and makes its portal document.
    ///
    /// - Parameters:
    ///   - file: the spec's name in messages (`<stdin>` for standard input).
    ///   - directory: the folder relative local paths start from; by default
    ///     the folder of `file`.
    public static func fromSpec(text: [UInt8], file: String, name: String, strict: Bool = false,
                                directory: String? = nil, home: String? = nil,
                                checkFiles: Bool = true, filesWarn: Bool = false) throws -> (document: PortalDocument, warnings: [String]) {
        if let problem = nameProblem(name) {
            throw SpecError(file: file, problems: ["\(problem) (the file name without .json), found \"\(name)\""])
        }
        let (spec, warnings) = try PortalSpec.validate(text: text, file: file, strict: strict, directory: directory,
                                                       home: home, checkFiles: checkFiles, filesWarn: filesWarn)
        return (PortalDocument(name: name, spec: spec), warnings)
    }
}
