import PortalBase

extension PortalSpec {
    /// Checks a spec and builds its typed, normalised value.
    ///
    /// Everything is checked; the error thrown (a `SpecError`, exit 65) lists
    /// every problem, in this order:
    /// 1. each value, reading the document from top to bottom (a missing
    ///    required key counts at the end of its object), and with `strict`
    ///    each unknown key;
    /// 2. relations between values: a volume id, device or mount point used
    ///    twice, an inbound and an outbound channel over the same tree;
    /// 3. the identity file on this machine (when `checkFiles`);
    /// 4. then, only if nothing else is wrong, every placeholder still to be
    ///    filled, all in one message.
    ///
    /// - Parameters:
    ///   - file: the spec's name in messages.
    ///   - strict: unknown keys are errors rather than warnings.
    ///   - directory: the folder relative local paths start from; by default
    ///     the folder of `file`.
    ///   - home: the folder `~` stands for; by default `$HOME`.
    ///   - checkFiles: check that the identity file exists and is private.
    ///   - filesWarn: with `checkFiles`, a problem with the identity file is a
    ///     warning, not an error (`portal-spec`: only commands that connect need it).
    /// - Returns: the spec, and warnings: `'gpu.json': spot_instance.instance_typ:
    ///   unknown key; did you mean 'instance_type'?`
    public static func validate(json: JSON, file: String, strict: Bool, directory: String? = nil,
                                home: String? = nil, checkFiles: Bool = true,
                                filesWarn: Bool = false) throws -> (spec: PortalSpec, warnings: [String]) {
        let checker = SpecChecker(file: file, strict: strict,
                                  directory: directory ?? SpecPaths.directory(of: file),
                                  home: home ?? SpecPaths.home(), checkFiles: checkFiles)
        checker.filesWarn = filesWarn
        return try checker.check(json, at: FieldPath())
    }

    /// Parses spec text, then validates it. Text that is not JSON is refused
    /// with its line and column: `'gpu.json': not JSON: line 3, column 5: …`.
    public static func validate(text: [UInt8], file: String, strict: Bool, directory: String? = nil,
                                home: String? = nil, checkFiles: Bool = true,
                                filesWarn: Bool = false) throws -> (spec: PortalSpec, warnings: [String]) {
        let json: JSON
        do {
            json = try JSON(parsing: text)
        } catch {
            throw SpecError(file: file, problems: ["not JSON: \(error)"])
        }
        return try validate(json: json, file: file, strict: strict, directory: directory, home: home,
                            checkFiles: checkFiles, filesWarn: filesWarn)
    }
}

/// The walk over one spec. Each reader records what is wrong and returns nil
/// for a value it could not take; the spec is built only when nothing is.
public final class SpecChecker {
    let file: String
    let strict: Bool
    let directory: String
    let home: String
    let checkFiles: Bool
    /// Identity file problems are warnings (see `validate`).
    var filesWarn = false

    var problems: [String] = []
    var warnings: [String] = []
    var placeholders: [String] = []
    /// The identity file once read, checked on disk after the walk.
    var identityFile: (String, FieldPath)?

    init(file: String, strict: Bool, directory: String, home: String, checkFiles: Bool) {
        self.file = file
        self.strict = strict
        self.directory = directory
        self.home = home
        self.checkFiles = checkFiles
    }

    func fail(_ path: FieldPath, _ message: String) {
        problems.append(path.isRoot ? message : "\(path): \(message)")
    }

    func warn(_ path: FieldPath, _ message: String) {
        warnings.append("\(SpecError.label(file)): \(path): \(message)")
    }

    func check(_ json: JSON, at root: FieldPath) throws -> (spec: PortalSpec, warnings: [String]) {
        let spec = readSpec(json, at: root)
        if !problems.isEmpty {
            throw SpecError(file: file, problems: problems, warnings: warnings)
        }
        if !placeholders.isEmpty {
            throw SpecError(file: file, problems: ["still to be filled: " + placeholders.joined(separator: ", ")],
                            warnings: warnings)
        }
        guard let spec else {
            // Every path that leaves the spec unbuilt records a problem first.
            throw SpecError(file: file, problems: ["not a valid spec"], warnings: warnings)
        }
        return (spec, warnings)
    }

    // MARK: Objects and keys

    struct Field {
        var key: String
        var required: Bool
        var read: (JSON, FieldPath) -> Void
        init(_ key: String, required: Bool = false, _ read: @escaping (JSON, FieldPath) -> Void) {
            self.key = key
            self.required = required
            self.read = read
        }
    }

    /// Reads an object's members in the order they are written. A null or
    /// `""` optional member counts as absent. Returns false if it is no object.
    @discardableResult
    func object(_ value: JSON, at path: FieldPath, _ fields: [Field]) -> Bool {
        guard case .object(let object) = value else {
            fail(path, "expected an object, found \(value.shortDescription)")
            return false
        }
        for (key, member) in object {
            let memberPath = path.key(key)
            guard let field = fields.first(where: { $0.key == key }) else {
                unknownKey(key, at: memberPath, known: fields.map(\.key))
                continue
            }
            // Portal Gun 0.x wrote an optional value left unset as "": absent.
            if !field.required && (member.isNull || member == .string("")) { continue }
            field.read(member, memberPath)
        }
        for field in fields where field.required && object[field.key] == nil {
            fail(path.key(field.key), "required, not found")
        }
        return true
    }

    func unknownKey(_ key: String, at path: FieldPath, known: [String]) {
        var message = "unknown key"
        if let suggestion = SpecChecker.closest(to: key, among: known) {
            message += "; did you mean '\(suggestion)'?"
        }
        if strict {
            fail(path, message)
        } else {
            warnings.append("\(SpecError.label(file)): \(path): \(message)")
        }
    }

    /// The known key nearest to a misspelt one: Levenshtein distance at most 3,
    /// and less than the known key's length (so that `"foo"` suggests nothing).
    /// Also the closest command to a mistyped one (`portal opne`).
    /// A key longer than every known one by more than 3 is near none of them,
    /// which bounds the cost of a huge key.
    public static func closest(to key: String, among known: [String]) -> String? {
        guard key.count <= (known.map(\.count).max() ?? 0) + 3 else { return nil }
        return known.map { ($0, levenshtein(key, $0)) }
            .filter { $0.1 <= 3 && $0.1 < $0.0.count }
            .min { $0.1 < $1.1 }?.0
    }

    static func levenshtein(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: Values

    /// A non-empty string; a placeholder is noted and gives nil.
    func string(_ value: JSON, at path: FieldPath) -> String? {
        guard case .string(let string) = value else {
            fail(path, "expected a string, found \(value.shortDescription)")
            return nil
        }
        if PortalSpec.isPlaceholder(string) {
            placeholders.append(path.description)
            return nil
        }
        if string.allSatisfy(\.isWhitespace) {
            fail(path, "expected a non-empty string, found \(value.shortDescription)")
            return nil
        }
        return string
    }

    /// An AWS id such as `ami-0abc…`: the prefix and something after it.
    func awsID(_ value: JSON, at path: FieldPath, prefix: String, what: String) -> String? {
        guard let string = string(value, at: path) else { return nil }
        guard string.hasPrefix(prefix), string.count > prefix.count, !string.contains(where: \.isWhitespace) else {
            fail(path, "expected \(what) such as \"\(prefix)0123456789abcdef0\", found \(value.shortDescription)")
            return nil
        }
        return string
    }

    /// The words Portal Gun 0.x's schema (marshmallow) took for a boolean.
    static let truthy: Set<String> = ["t", "T", "true", "True", "TRUE", "1", "on", "On", "ON", "y", "Y", "yes", "Yes", "YES"]
    static let falsy: Set<String> = ["f", "F", "false", "False", "FALSE", "0", "off", "Off", "OFF", "n", "N", "no", "No", "NO"]

    /// true or false; what Portal Gun 0.x coerced (`"yes"`, `"True"`, `1`,
    /// `0`) is taken, with a warning saying what to write instead.
    func bool(_ value: JSON, at path: FieldPath) -> Bool? {
        if let bool = value.boolValue { return bool }
        var coerced: Bool?
        switch value {
        case .string(let text): coerced = SpecChecker.truthy.contains(text) ? true : SpecChecker.falsy.contains(text) ? false : nil
        case .int(let number): coerced = number == 1 ? true : number == 0 ? false : nil
        case .double(let number): coerced = number == 1 ? true : number == 0 ? false : nil
        default: coerced = nil
        }
        guard let coerced else {
            fail(path, "expected true or false, found \(value.shortDescription)")
            return nil
        }
        warn(path, "\(value.shortDescription) taken as \(coerced); write \(coerced)")
        return coerced
    }

    /// A number; a string holding one (`"0.5"`, as Portal Gun 0.x coerced) is
    /// taken, with a warning saying what to write instead.
    func number(_ value: JSON, at path: FieldPath) -> Double? {
        if let number = value.doubleValue { return number }
        guard case .string(let text) = value,
            let number = Double(text.trimming(\.isBlank)), number.isFinite
        else { return nil }
        warn(path, "\(value.shortDescription) taken as a number; write \(JSON.double(number).serialized(pretty: false))")
        return number
    }

    /// An array, each element read by `element`; nil if it is no array.
    func array<T>(_ value: JSON, at path: FieldPath, of what: String,
                  _ element: (JSON, FieldPath) -> T?) -> [T?]? {
        guard case .array(let array) = value else {
            fail(path, "expected \(what), found \(value.shortDescription)")
            return nil
        }
        return array.enumerated().map { element($0.element, path.index($0.offset)) }
    }

    func strings(_ value: JSON, at path: FieldPath) -> [String]? {
        array(value, at: path, of: "an array of strings") { self.string($0, at: $1) }?.compactMap { $0 }
    }

    /// A path on the laptop: `~` expanded, made absolute from the spec's folder.
    func localPath(_ value: JSON, at path: FieldPath) -> String? {
        guard let string = string(value, at: path) else { return nil }
        guard let expanded = SpecPaths.expandingTilde(string, home: home) else {
            let user = string.dropFirst().prefix { $0 != "/" }
            fail(path, "no user '\(user)' for \(value.shortDescription)")
            return nil
        }
        return SpecPaths.absolute(expanded, from: directory)
    }

    /// A path on the instance: absolute as written, or relative to the remote
    /// user's home (`~/` dropped), as Portal Gun 0.x took it; resolved there.
    func remotePath(_ value: JSON, at path: FieldPath) -> String? {
        guard let string = string(value, at: path) else { return nil }
        return string.hasPrefix("/") ? string : SpecPaths.remote(string, keepingTrailingSlash: true)
    }
}
