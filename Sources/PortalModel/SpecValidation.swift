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

    private(set) var problems: [String] = []
    private(set) var warnings: [String] = []
    private(set) var placeholders: [String] = []
    /// The identity file once read, checked on disk after the walk.
    private var identityFile: (String, FieldPath)?

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

    // MARK: The spec

    func readSpec(_ json: JSON, at root: FieldPath) -> PortalSpec? {
        var instance: PortalSpec.SpotInstance?
        var fleet: PortalSpec.SpotFleet?
        var volumes: [VolumeDraft] = []
        var channels: [ChannelDraft] = []
        var ssh = PortalSpec.SSH()
        var sshValid = true
        let spotMarket = SpotMarketDraft()
        let isObject = object(json, at: root, spotMarketFields(spotMarket) + [
            Field("spot_instance", required: true) { value, path in instance = self.readSpotInstance(value, at: path) },
            Field("spot_fleet") { value, path in
                var role: String?
                self.object(value, at: path, [
                    Field("iam_fleet_role", required: true) { value, path in
                        guard let string = self.string(value, at: path) else { return }
                        guard string.hasPrefix("arn:") else {
                            self.fail(path, "expected a role ARN such as \"arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role\", found \(value.shortDescription)")
                            return
                        }
                        role = string
                    },
                ])
                fleet = role.map(PortalSpec.SpotFleet.init)
            },
            Field("persistent_volumes") { value, path in
                volumes = self.array(value, at: path, of: "an array of volumes") { self.readVolume($0, at: $1) }?
                    .compactMap { $0 } ?? []
            },
            Field("channels") { value, path in
                channels = self.array(value, at: path, of: "an array of channels") { self.readChannel($0, at: $1) }?
                    .compactMap { $0 } ?? []
            },
            Field("ssh") { value, path in
                if let read = self.readSSH(value, at: path) { ssh = read } else { sshValid = false }
            },
        ])
        guard isObject else { return nil }
        checkVolumes(volumes)
        checkChannels(channels)
        if checkFiles, let (file, path) = identityFile {
            checkIdentityFile(file, at: path)
        }

        guard let instance, sshValid else { return nil }
        let builtVolumes = volumes.compactMap(\.volume)
        let builtChannels = channels.compactMap(\.channel)
        guard builtVolumes.count == volumes.count, builtChannels.count == channels.count else { return nil }
        var spec = PortalSpec(spotInstance: instance, spotFleet: fleet, persistentVolumes: builtVolumes,
                              channels: builtChannels, ssh: ssh)
        spec.spotMarket = spotMarket.value
        return spec
    }

    func readSpotInstance(_ value: JSON, at path: FieldPath) -> PortalSpec.SpotInstance? {
        var instanceType: String?, imageID: String?, keyPairName: String?, identityFile: String?
        var securityGroupID: String?, availabilityZone: String?, subnetID: String?
        var ebsOptimized = false
        var remoteUser: String? = "ubuntu"
        var remoteGroup: String?
        var pythonVirtualEnv: String?
        var packages: [String] = [], commands: [String] = []
        let isObject = object(value, at: path, [
            Field("instance_type", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                guard SpecChecker.isInstanceType(string) else {
                    self.fail(path, "expected an instance type such as \"t3.medium\", found \(value.shortDescription)")
                    return
                }
                instanceType = string
            },
            Field("image_id", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                // RunInstances also takes an SSM parameter in place of an AMI id.
                guard (string.hasPrefix("ami-") && string.count > 4) || string.hasPrefix("resolve:ssm:") else {
                    self.fail(path, "expected an AMI id such as \"ami-0123456789abcdef0\", found \(value.shortDescription)")
                    return
                }
                imageID = string
            },
            Field("key_pair_name", required: true) { value, path in keyPairName = self.string(value, at: path) },
            Field("identity_file", required: true) { value, path in
                identityFile = self.localPath(value, at: path)
                if let identityFile { self.identityFile = (identityFile, path) }
            },
            Field("security_group_id", required: true) { value, path in
                securityGroupID = self.awsID(value, at: path, prefix: "sg-", what: "a security group id")
            },
            Field("availability_zone", required: true) { value, path in availabilityZone = self.string(value, at: path) },
            Field("subnet_id") { value, path in
                subnetID = self.awsID(value, at: path, prefix: "subnet-", what: "a subnet id")
            },
            Field("ebs_optimized") { value, path in ebsOptimized = self.bool(value, at: path) ?? false },
            Field("remote_user") { value, path in remoteUser = self.userName(value, at: path) },
            Field("remote_group") { value, path in remoteGroup = self.userName(value, at: path) },
            Field("python_virtual_env") { value, path in pythonVirtualEnv = self.string(value, at: path) },
            Field("extra_python_packages") { value, path in packages = self.strings(value, at: path) ?? [] },
            Field("setup_commands") { value, path in commands = self.strings(value, at: path) ?? [] },
        ])
        guard isObject, let instanceType, let imageID, let keyPairName, let identityFile, let securityGroupID,
            let availabilityZone, let remoteUser
        else { return nil }
        return PortalSpec.SpotInstance(
            instanceType: instanceType, imageID: imageID, keyPairName: keyPairName, identityFile: identityFile,
            securityGroupID: securityGroupID, availabilityZone: availabilityZone, subnetID: subnetID,
            ebsOptimized: ebsOptimized, remoteUser: remoteUser, remoteGroup: remoteGroup ?? remoteUser,
            pythonVirtualEnv: pythonVirtualEnv, extraPythonPackages: packages, setupCommands: commands)
    }

    /// `t3.medium`, `p4de.24xlarge`, `u-6tb1.metal`: a family and a size.
    static func isInstanceType(_ string: String) -> Bool {
        let parts = string.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        }
    }

    /// A Unix user or group name, as Debian's adduser accepts it by default.
    func userName(_ value: JSON, at path: FieldPath) -> String? {
        guard let string = string(value, at: path) else { return nil }
        let valid = string.first.map { ("a"..."z").contains($0) || $0 == "_" } == true
            && string.count <= 32
            && string.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
        guard valid else {
            fail(path, "expected a user or group name such as \"ubuntu\" (lowercase letters, digits, '_', '-'), found \(value.shortDescription)")
            return nil
        }
        return string
    }

    struct VolumeDraft {
        var path: FieldPath
        var volumeID: String?
        var device: String?
        var mountPoint: String?
        var volume: PortalSpec.PersistentVolume? {
            guard let volumeID, let device, let mountPoint else { return nil }
            return .init(volumeID: volumeID, device: device, mountPoint: mountPoint)
        }
    }

    func readVolume(_ value: JSON, at path: FieldPath) -> VolumeDraft? {
        var draft = VolumeDraft(path: path)
        let isObject = object(value, at: path, [
            Field(DocumentKey.volumeID, required: true) { value, path in
                draft.volumeID = self.awsID(value, at: path, prefix: "vol-", what: "a volume id")
            },
            Field("device", required: true) { value, path in
                guard var string = self.string(value, at: path) else { return }
                // AttachVolume takes a bare name (xvdf) as well: it is /dev/xvdf.
                if !string.isEmpty, string.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                    string = "/dev/" + string
                }
                guard string.hasPrefix("/dev/"), string.count > 5, !string.hasSuffix("/") else {
                    self.fail(path, "expected a device under /dev/ such as \"/dev/xvdf\", found \(value.shortDescription)")
                    return
                }
                draft.device = string
            },
            Field("mount_point", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                let normalised = SpecPaths.remote(string, keepingTrailingSlash: false)
                guard normalised != "/" else {
                    self.fail(path, "expected a folder other than /, found \(value.shortDescription)")
                    return
                }
                // Mounted over the home folder, the volume would hide ~/.ssh: no login.
                guard normalised != "." else {
                    self.fail(path, "expected a folder other than the remote user's home, found \(value.shortDescription)")
                    return
                }
                draft.mountPoint = normalised
            },
        ])
        return isObject ? draft : nil
    }

    struct ChannelDraft {
        var path: FieldPath
        var direction: PortalSpec.Channel.Direction?
        var localPath: String?
        var remotePath: String?
        var recursive = false
        var delay = 1.0
        var delete = false
        var valid = true
        var channel: PortalSpec.Channel? {
            guard valid, let direction, let localPath, let remotePath else { return nil }
            return .init(direction: direction, localPath: localPath, remotePath: remotePath,
                         recursive: recursive, delay: delay, delete: delete)
        }
    }

    func readChannel(_ value: JSON, at path: FieldPath) -> ChannelDraft? {
        var draft = ChannelDraft(path: path)
        let isObject = object(value, at: path, [
            Field("direction", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                guard let direction = PortalSpec.Channel.Direction(rawValue: string) else {
                    self.fail(path, "expected \"in\" or \"out\", found \(value.shortDescription)")
                    return
                }
                draft.direction = direction
            },
            Field("local_path", required: true) { value, path in draft.localPath = self.localPath(value, at: path) },
            Field("remote_path", required: true) { value, path in
                draft.remotePath = self.remotePath(value, at: path)
            },
            Field("recursive") { value, path in
                if let bool = self.bool(value, at: path) { draft.recursive = bool } else { draft.valid = false }
            },
            Field("delay") { value, path in
                guard let seconds = self.number(value, at: path), seconds >= 0, seconds.isFinite else {
                    self.fail(path, "expected a number of seconds, 0 or more, found \(value.shortDescription)")
                    draft.valid = false
                    return
                }
                draft.delay = seconds
            },
            Field("delete") { value, path in
                if let bool = self.bool(value, at: path) { draft.delete = bool } else { draft.valid = false }
            },
        ])
        return isObject ? draft : nil
    }

    func readSSH(_ value: JSON, at path: FieldPath) -> PortalSpec.SSH? {
        var ssh = PortalSpec.SSH()
        var valid = true
        let isObject = object(value, at: path, [
            Field("address") { value, path in
                guard let string = self.string(value, at: path) else { valid = false; return }
                guard let address = PortalSpec.SSH.Address(rawValue: string) else {
                    self.fail(path, "expected \"public_ip\", \"private_ip\" or \"public_dns\", found \(value.shortDescription)")
                    valid = false
                    return
                }
                ssh.address = address
            },
            Field("host") { value, path in
                if let host = self.string(value, at: path) { ssh.host = host } else { valid = false }
            },
            Field("port") { value, path in
                guard let port = value.intValue, (1...65535).contains(port) else {
                    self.fail(path, "expected a port number from 1 to 65535, found \(value.shortDescription)")
                    valid = false
                    return
                }
                ssh.port = Int(port)
            },
        ])
        return isObject && valid ? ssh : nil
    }

    // MARK: Relations

    func checkVolumes(_ volumes: [VolumeDraft]) {
        for (later, volume) in volumes.enumerated() {
            for earlier in volumes[..<later] {
                if let id = volume.volumeID, id == earlier.volumeID {
                    fail(volume.path.key(DocumentKey.volumeID), "'\(id)' is also \(earlier.path.key(DocumentKey.volumeID))")
                }
                if let device = volume.device, device == earlier.device {
                    fail(volume.path.key("device"), "'\(device)' is also \(earlier.path.key("device"))")
                }
                if let mountPoint = volume.mountPoint, mountPoint == earlier.mountPoint {
                    fail(volume.path.key("mount_point"), "'\(mountPoint)' is also \(earlier.path.key("mount_point"))")
                }
            }
        }
    }

    /// An inbound and an outbound channel must not share a tree on either
    /// side: each would carry the other's changes back, round and round.
    func checkChannels(_ channels: [ChannelDraft]) {
        let loop = "; an inbound and an outbound channel over one tree would sync in a loop"
        for (later, channel) in channels.enumerated() {
            for earlier in channels[..<later] {
                guard let a = channel.direction, let b = earlier.direction, a != b else { continue }
                for key in ["local_path", "remote_path"] {
                    let (mine, theirs) = key == "local_path"
                        ? (channel.localPath, earlier.localPath) : (channel.remotePath, earlier.remotePath)
                    guard let mine, let theirs,
                        let relation = SpecPaths.relation(of: mine, to: theirs)
                    else { continue }
                    fail(channel.path.key(key), "'\(mine)' \(relation) \(earlier.path.key(key)) '\(theirs)'" + loop)
                }
            }
        }
    }

    // MARK: Files on this machine

    /// ssh refuses a private key that others can read; better to say so now.
    func checkIdentityFile(_ file: String, at path: FieldPath) {
        let fail: (FieldPath, String) -> Void = filesWarn
            ? { self.warn($0, $1 + "; commands that connect will refuse it") } : self.fail
        var status = stat()
        guard stat(file, &status) == 0 else {
            if errno == ENOENT || errno == ENOTDIR {
                fail(path, "'\(file)' does not exist")
            } else {
                fail(path, "'\(file)' cannot be examined: \(String(cString: strerror(errno)))")
            }
            return
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            fail(path, "'\(file)' is not a file")
            return
        }
        let mode = status.st_mode & 0o7777
        let modeText = "mode " + String(repeating: "0", count: max(0, 4 - String(mode, radix: 8).count))
            + String(mode, radix: 8)
        if mode & 0o077 != 0 {
            let access = mode & 0o044 != 0 ? "readable" : "accessible"
            fail(path, "'\(file)' is \(access) by others (\(modeText)); ssh refuses such keys: chmod 600 '\(file)'")
            return
        }
        if access(file, R_OK) != 0 {
            fail(path, "'\(file)' cannot be read (\(modeText))")
        }
    }
}

/// Paths on the laptop and on the instance, handled as text: nothing here
/// follows symbolic links.
enum SpecPaths {
    static func home() -> String {
        ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? passwdHomeDirectory()
    }

    static func currentDirectory() -> String { FileManager.default.currentDirectoryPath }

    /// The absolute folder a file is in.
    static func directory(of file: String) -> String {
        let absolute = self.absolute(file, from: currentDirectory())
        guard let slash = absolute.lastIndex(of: "/"), slash != absolute.startIndex else { return "/" }
        return String(absolute[..<slash])
    }

    /// `~` and `~/…` become the home folder, `~user/…` that user's; nil for an unknown user.
    static func expandingTilde(_ path: String, home: String) -> String? {
        guard path.hasPrefix("~") else { return path }
        let user = path.dropFirst().prefix { $0 != "/" }
        let rest = path.dropFirst(1 + user.count)
        if user.isEmpty { return home + rest }
        guard let userHome = FileManager.default.homeDirectory(forUser: String(user))?.path else { return nil }
        return userHome + rest
    }

    /// A path made absolute from a folder, then normalised.
    static func absolute(_ path: String, from directory: String) -> String {
        normalised(path.hasPrefix("/") ? path : directory + "/" + path, keepingTrailingSlash: true)
    }

    /// An absolute path without `.`, `..` or repeated slashes; a trailing slash
    /// is kept if asked (rsync reads it as "the folder's contents").
    static func normalised(_ path: String, keepingTrailingSlash: Bool) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        let joined = "/" + parts.joined(separator: "/")
        let trailing = keepingTrailingSlash && joined != "/"
            && (path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/.."))
        return trailing ? joined + "/" : joined
    }

    /// A path on the instance: an absolute one normalised; a relative one
    /// (to the remote user's home, which only the instance knows) without
    /// `~/`, `.` and repeated slashes, `.` for the home itself.
    static func remote(_ path: String, keepingTrailingSlash: Bool) -> String {
        if path.hasPrefix("/") { return normalised(path, keepingTrailingSlash: keepingTrailingSlash) }
        let rest = path == "~" ? "" : path.hasPrefix("~/") ? String(path.dropFirst(2)) : path
        var parts: [Substring] = []
        for part in rest.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if let last = parts.last, last != ".." { parts.removeLast() } else { parts.append(part) }
            default: parts.append(part)
            }
        }
        let joined = parts.isEmpty ? "." : parts.joined(separator: "/")
        return keepingTrailingSlash && (path.hasSuffix("/") || path == "~") ? joined + "/" : joined
    }

    /// How one path stands to another: "is the same as", "is inside",
    /// "contains", or nil when neither holds. A relative (remote) path is
    /// under the home folder, apart from every absolute one.
    static func relation(of path: String, to other: String) -> String? {
        let home = { (p: String) in p.hasPrefix("/") ? p : "/~/" + p }
        let a = normalised(home(path), keepingTrailingSlash: false)
        let b = normalised(home(other), keepingTrailingSlash: false)
        if a == b { return "is the same as" }
        if a.hasPrefix(b == "/" ? "/" : b + "/") { return "is inside" }
        if b.hasPrefix(a == "/" ? "/" : a + "/") { return "contains" }
        return nil
    }
}
