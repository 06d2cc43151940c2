import PortalBase

/// The JSON object the plumbing passes along: `{"name": NAME, "spec": {…}}`,
/// which `portal-spec` writes, and to which each later stage adds its own
/// member (`DocumentKey.stages`: `"instance"`, `"attachments"`, `"mounts"`,
/// `"provisioned"`, `"closed"`), typed here. A document is decoded once, as it
/// is read, and encoded once, by `json`: members nobody changed are written
/// back as they were read, and members this type does not know are kept, in
/// their order.
public struct PortalDocument: Equatable, Sendable {
    /// The portal's name: its spec file's name without `.json`.
    public var name: String
    /// The validated spec.
    public var spec: PortalSpec
    /// Every member as read (and a placeholder for each stage set since), in order.
    private var members: JSONObject
    /// The spec as read, so that an unchanged spec is written back as it came.
    private var specAsRead: PortalSpec?
    /// The stages' members, typed.
    private var stages = Stages()
    /// The stages set since the document was read: `json` encodes these; the
    /// others are written as read.
    private var changed: Set<String> = []
    /// Why a stage's member as read could not be typed: said when a stage needs it.
    private var problems: [String: Failure] = [:]

    private struct Stages: Equatable, Sendable {
        var instance: Instance?
        var attachments: [Attachment]?
        var mounts: [MountResult]?
        var provisioned: ProvisionResult?
        var closed: Closing?
    }

    public init(name: String, spec: PortalSpec) {
        self.name = name
        self.spec = spec
        self.members = JSONObject()
        self.specAsRead = nil
    }

    /// Reads a document a previous stage wrote, validating its `"spec"` again.
    /// Problems are a `SpecError` (exit 65) whose paths start at the document:
    /// `<stdin>: spec.spot_instance.image_id: required, not found`. A stage's
    /// member that is not what that stage writes is a problem only for a
    /// stage that needs it (`requireInstance`, `requireAttachments`).
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
        decodeStages(source: source)
    }

    /// Types each stage's member as read; one that is not what its stage
    /// writes stays as read, and its problem is kept for the stage that needs it.
    private mutating func decodeStages(source: String) {
        func decode<T>(_ key: String, _ decoder: (JSON) throws -> T?) -> T? {
            guard let value = members[key], !value.isNull else { return nil }
            do {
                guard let typed = try decoder(value) else {
                    problems[key] = Failure("\(source): \(key): not what a stage writes, found \(value.shortDescription)",
                                            status: .dataError)
                    return nil
                }
                return typed
            } catch let failure as Failure {
                problems[key] = failure
            } catch {
                problems[key] = Failure("\(source): \(key): \(error)", status: .dataError)
            }
            return nil
        }
        stages.instance = decode(DocumentKey.instance) { try Instance(document: $0) }
        stages.attachments = decode(DocumentKey.attachments) { value in
            guard let list = value.arrayValue else {
                throw Failure("\(source): \(DocumentKey.attachments): expected an array, found \(value.shortDescription)",
                              status: .dataError)
            }
            return try list.enumerated().map { index, entry in
                try Attachment(document: entry, path: "\(source): \(DocumentKey.attachments)[\(index)]")
            }
        }
        stages.mounts = decode(DocumentKey.mounts) { value in
            value.arrayValue.flatMap { list in
                let mounts = list.compactMap(MountResult.init(json:))
                return mounts.count == list.count ? mounts : nil
            }
        }
        stages.provisioned = decode(DocumentKey.provisioned, ProvisionResult.init(json:))
        stages.closed = decode(DocumentKey.closed, Closing.init(json:))
    }

    /// The document to write: every member as read, with `"name"`, `"spec"`
    /// and the stages set since as they are now (an unchanged spec is passed
    /// through untouched).
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
        for (key, value) in members where key != "name" && key != "spec" {
            object[key] = changed.contains(key) ? encoded(key) : value
        }
        return .object(object)
    }

    private func encoded(_ key: String) -> JSON? {
        switch key {
        case DocumentKey.instance: return stages.instance?.json ?? .null
        case DocumentKey.attachments: return stages.attachments.map { .array($0.map(\.json)) }
        case DocumentKey.mounts: return stages.mounts.map { .array($0.map(\.json)) }
        case DocumentKey.provisioned: return stages.provisioned?.json
        case DocumentKey.closed: return stages.closed?.json
        default: return members[key]
        }
    }

    /// Records that a stage's member was set: a new one takes its place at the
    /// end; a removed one goes.
    private mutating func set(_ key: String, present: Bool) {
        changed.insert(key)
        problems[key] = nil
        if !present {
            members[key] = nil
        } else if members[key] == nil {
            members[key] = .null
        }
    }

    // MARK: The stages' members

    /// `"instance"`: the portal's instance; nil writes null (the portal is not open).
    public var instance: Instance? {
        get { stages.instance }
        set { stages.instance = newValue; set(DocumentKey.instance, present: true) }
    }

    /// `"attachments"`; nil removes them.
    public var attachments: [Attachment]? {
        get { stages.attachments }
        set { stages.attachments = newValue; set(DocumentKey.attachments, present: newValue != nil) }
    }

    /// `"mounts"`; nil removes them.
    public var mounts: [MountResult]? {
        get { stages.mounts }
        set { stages.mounts = newValue; set(DocumentKey.mounts, present: newValue != nil) }
    }

    /// `"provisioned"`; nil removes it.
    public var provisioned: ProvisionResult? {
        get { stages.provisioned }
        set { stages.provisioned = newValue; set(DocumentKey.provisioned, present: newValue != nil) }
    }

    /// `"closed"`; nil removes it.
    public var closed: Closing? {
        get { stages.closed }
        set { stages.closed = newValue; set(DocumentKey.closed, present: newValue != nil) }
    }

    /// The instance, for a stage that needs one (exit 65 without it).
    public func requireInstance() throws -> Instance {
        if let instance { return instance }
        if let problem = problems[DocumentKey.instance] { throw problem }
        throw Failure("<stdin>: \(DocumentKey.instance): required, not found", status: .dataError,
                      hints: ["pipe in the output of portal-spot-request or portal-find"])
    }

    /// The instance when the document names one: nil without it (or null),
    /// a failure (exit 65) when it is not an instance.
    public func givenInstance() throws -> Instance? {
        if let problem = problems[DocumentKey.instance] { throw problem }
        return instance
    }

    /// The attachments, for a stage that needs them (exit 65 without them).
    public func requireAttachments() throws -> [Attachment] {
        if let problem = problems[DocumentKey.attachments] { throw problem }
        guard let attachments else {
            throw Failure("<stdin>: the document has no \"\(DocumentKey.attachments)\": run portal-volume-attach before portal-mount",
                          status: .dataError)
        }
        return attachments
    }

    /// The instance id the document names: its instance's, else its first
    /// attachment's (a document whose `ssh.host` is set may have only those).
    public var instanceID: InstanceID? {
        instance?.id ?? attachments?.first?.instanceID
    }

    /// Any other member (`"watcher"`, `"run"`, or one this type does not
    /// know), passed through as it is. The stages' members are the typed
    /// properties' business.
    public subscript(key: String) -> JSON? {
        get { changed.contains(key) ? encoded(key) : members[key] }
        set {
            precondition(!DocumentKey.stages.contains(key), "the stages' members are typed: set document.\(key)")
            members[key] = newValue
        }
    }

    public static func == (a: PortalDocument, b: PortalDocument) -> Bool {
        a.name == b.name && a.spec == b.spec && a.json == b.json
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
