import Foundation
import PortalBase
import Testing

@testable import PortalModel

/// The corpus in Fixtures/specs: `broken/NAME.json` beside `NAME.expected`
/// (the exact message), `good/NAME.json` beside `NAME.expected.json` (the
/// portal document). Adding a case is adding two files. In expected files,
/// `$HOME` stands for the test's home folder (see `TestHome`); specs are read
/// as if they sat in /projects/demo; broken cases named `strict-*` are
/// validated with `--strict`.
enum Corpus {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        .appendingPathComponent("specs")
    static let directory = "/projects/demo"

    static func cases(in folder: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return files.filter { $0.hasSuffix(".json") && !$0.hasSuffix(".expected.json") }
            .map { String($0.dropLast(5)) }
            .sorted()
    }

    static let broken = cases(in: "broken")
    static let good = cases(in: "good")

    static func read(_ folder: String, _ file: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(folder).appendingPathComponent(file)))
    }

    /// An expected file, `$HOME` replaced.
    static func expected(_ folder: String, _ file: String) throws -> String {
        String(decoding: try read(folder, file), as: UTF8.self)
            .replacingOccurrences(of: "$HOME", with: TestHome.path)
    }
}

/// A home folder made once per test run, with keys of known modes:
/// `~/.ssh/portal` (0600), `~/.ssh/open` (0644), `~/.ssh/group` (0640).
enum TestHome {
    static let path: String = {
        let home = folder(for: getpid())
        let ssh = home + "/.ssh"
        try? FileManager.default.removeItem(atPath: home)
        try! FileManager.default.createDirectory(atPath: ssh, withIntermediateDirectories: true)
        chmod(ssh, 0o700)
        for (name, mode) in [("portal", 0o600), ("open", 0o644), ("group", 0o640)] {
            _ = FileManager.default.createFile(atPath: "\(ssh)/\(name)", contents: Data("not a real key\n".utf8))
            chmod("\(ssh)/\(name)", mode_t(mode))
        }
        // Removed when the test process exits (Swift Testing has no run-wide teardown).
        atexit { try? FileManager.default.removeItem(atPath: TestHome.folder(for: getpid())) }
        return home
    }()

    static func folder(for pid: pid_t) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portal-spec-tests-\(pid)").path
    }
}

func validate(_ json: JSON, file: String = "test.json", strict: Bool = false) throws -> (spec: PortalSpec, warnings: [String]) {
    try PortalSpec.validate(json: json, file: file, strict: strict, directory: Corpus.directory, home: TestHome.path)
}

func validate(_ text: String, file: String = "test.json", strict: Bool = false) throws -> (spec: PortalSpec, warnings: [String]) {
    try PortalSpec.validate(text: Array(text.utf8), file: file, strict: strict, directory: Corpus.directory,
                            home: TestHome.path)
}

/// A small valid spec to vary.
let minimalSpec: JSON = [
    "spot_instance": [
        "instance_type": "t3.medium", "image_id": "ami-0123456789abcdef0", "key_pair_name": "portal",
        "identity_file": "~/.ssh/portal", "security_group_id": "sg-0123", "availability_zone": "us-east-1a",
    ],
]

@Suite("portal specs")
struct SpecTests {
    // MARK: The corpus

    @Test("the corpus has at least 20 broken and 4 good specs, each with its expectation")
    func corpusIsThere() throws {
        #expect(Corpus.broken.count >= 20)
        #expect(Corpus.good.count >= 4)
        for name in Corpus.broken { _ = try Corpus.expected("broken", name + ".expected") }
        for name in Corpus.good { _ = try Corpus.expected("good", name + ".expected.json") }
    }

    @Test("a broken spec is refused with its exact message and exit status 65", arguments: Corpus.broken)
    func brokenSpec(_ name: String) throws {
        let expected = try Corpus.expected("broken", name + ".expected").trimmingCharacters(in: .newlines)
        let error = #expect(throws: SpecError.self) {
            try PortalSpec.validate(text: try Corpus.read("broken", name + ".json"), file: name + ".json",
                                    strict: name.hasPrefix("strict-"), directory: Corpus.directory,
                                    home: TestHome.path)
        }
        #expect(error?.description == expected)
        #expect(error?.exitStatus == .dataError)
        #expect(error?.exitStatus.rawValue == 65)
    }

    @Test("a good spec gives exactly its expected portal document", arguments: Corpus.good)
    func goodSpec(_ name: String) throws {
        let (document, warnings) = try PortalDocument.fromSpec(
            text: try Corpus.read("good", name + ".json"), file: name + ".json", name: name, strict: true,
            directory: Corpus.directory, home: TestHome.path)
        let expected = try JSON(parsing: try Corpus.expected("good", name + ".expected.json"))
        #expect(warnings.isEmpty)
        #expect(document.json.serialized(pretty: true) == expected.serialized(pretty: true))
    }

    @Test("a normalised spec validates to the same spec and the same JSON", arguments: Corpus.good)
    func normalisedFormIsStable(_ name: String) throws {
        let first = try validate(String(decoding: try Corpus.read("good", name + ".json"), as: UTF8.self), strict: true)
        let second = try validate(first.spec.toJSON(), strict: true)
        #expect(second.spec == first.spec)
        #expect(second.spec.toJSON() == first.spec.toJSON())
    }

    @Test("without --strict, an unknown key is a warning in the words --strict refuses it with",
          arguments: Corpus.broken.filter { $0.hasPrefix("strict-") })
    func unknownKeyWarns(_ name: String) throws {
        let expected = try Corpus.expected("broken", name + ".expected").trimmingCharacters(in: .newlines)
        let (_, warnings) = try PortalSpec.validate(
            text: try Corpus.read("broken", name + ".json"), file: name + ".json", strict: false,
            directory: Corpus.directory, home: TestHome.path)
        #expect(warnings == [expected])
    }

    // MARK: Reporting

    @Test("every problem is reported at once, in reading order, one line each with its field")
    func everyProblemIsReported() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["instance_type"] = 7
        spec["channels"] = [["direction": "sideways", "local_path": "a", "remote_path": "/b", "delay": -1]]
        spec["ssh"] = ["port": "22"]
        let error = #expect(throws: SpecError.self) { try validate(spec, file: "gpu.json") }
        let problems = [
            "spot_instance.instance_type: expected a string, found 7",
            "channels[0].direction: expected \"in\" or \"out\", found \"sideways\"",
            "channels[0].delay: expected a number of seconds, 0 or more, found -1",
            "ssh.port: expected a port number from 1 to 65535, found \"22\"",
        ]
        #expect(error?.problems == problems)
        #expect(error?.description == problems.map { "'gpu.json': " + $0 }.joined(separator: "\n"))
    }

    @Test("a refused spec still carries the warnings found on the way")
    func errorKeepsWarnings() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["instance_type"] = nil
        spec["spot_instance"]?["instance_typ"] = "t3.medium"
        let error = #expect(throws: SpecError.self) { try validate(spec, file: "gpu.json") }
        #expect(error?.description == "'gpu.json': spot_instance.instance_type: required, not found")
        #expect(error?.warnings == ["'gpu.json': spot_instance.instance_typ: unknown key; did you mean 'instance_type'?"])
    }

    @Test("every unknown key is a warning naming its path, with the closest known key within 3 edits")
    func unknownKeysAreWarnings() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["ebs_optimised"] = true
        spec["persistent_volumes"] = [["volume_id": "vol-1", "device": "/dev/xvdf", "mount_point": "/d", "size": 10]]
        spec["sssh"] = ["port": 22]
        spec["frobnicate"] = true
        let (_, warnings) = try validate(spec, file: "gpu.json")
        #expect(warnings == [
            "'gpu.json': spot_instance.ebs_optimised: unknown key; did you mean 'ebs_optimized'?",
            "'gpu.json': persistent_volumes[0].size: unknown key",
            "'gpu.json': sssh: unknown key; did you mean 'ssh'?",
            "'gpu.json': frobnicate: unknown key",
        ])
    }

    @Test("an unknown key of a hundred thousand characters is named by its start, in a message of one line")
    func hugeUnknownKey() throws {
        var spec = minimalSpec
        spec[String(repeating: "instance_type", count: 8_000)] = true
        let (_, warnings) = try validate(spec, file: "gpu.json")
        #expect(warnings.count == 1)
        let warning = warnings.first ?? ""
        #expect(warning.count < 160, "\(warning.prefix(200))")
        #expect(SpecChecker.closest(to: String(repeating: "a", count: 1_000_000), among: ["ssh"]) == nil)
    }

    @Test("a suggestion is the nearest known key, and none when every key is far or the key is short")
    func suggestions() {
        #expect(SpecChecker.levenshtein("instance_typ", "instance_type") == 1)
        #expect(SpecChecker.levenshtein("", "abc") == 3)
        #expect(SpecChecker.levenshtein("kitten", "sitting") == 3)
        #expect(SpecChecker.closest(to: "mount_piont", among: ["volume_id", "device", "mount_point"]) == "mount_point")
        #expect(SpecChecker.closest(to: "delay", among: ["delete", "delay"]) == "delay")
        #expect(SpecChecker.closest(to: "colour", among: ["spot_instance", "ssh"]) == nil)
        #expect(SpecChecker.closest(to: "foo", among: ["ssh"]) == nil)
    }

    @Test("the spec's name in messages is quoted, a pseudo-name such as <stdin> is not")
    func labels() {
        #expect(SpecError(file: "gpu.json", problems: ["x"]).description == "'gpu.json': x")
        #expect(SpecError(file: "<stdin>", problems: ["x"]).description == "<stdin>: x")
    }

    // MARK: Placeholders and the draft

    @Test("placeholders are values in angle brackets, or any value with <id> in it")
    func placeholderRule() {
        #expect(PortalSpec.isPlaceholder("<instance type, e.g. t3.medium>"))
        #expect(PortalSpec.isPlaceholder("ami-<id>"))
        #expect(PortalSpec.isPlaceholder("<>"))
        #expect(!PortalSpec.isPlaceholder("ami-0123"))
        #expect(!PortalSpec.isPlaceholder("a <b>"))
        #expect(!PortalSpec.isPlaceholder("<b"))
    }

    @Test("the draft is refused with one error listing every placeholder, with or without --strict; all are required fields")
    func draftListsEveryPlaceholder() throws {
        let expected = "'gpu.json': still to be filled: spot_instance.instance_type, spot_instance.image_id, "
            + "spot_instance.key_pair_name, spot_instance.identity_file, spot_instance.security_group_id, "
            + "spot_instance.availability_zone"
        for strict in [false, true] {
            let error = #expect(throws: SpecError.self) {
                try PortalSpec.validate(json: PortalSpec.draft(), file: "gpu.json", strict: strict)
            }
            #expect(error?.description == expected)
            #expect(error?.exitStatus == .dataError)
            #expect(error?.warnings == [])
        }
    }

    @Test("the draft with what is known filled in is a valid spec as it is, optional fields left out")
    func draftFilledIsValid() throws {
        var values = PortalSpec.DraftValues()
        values.instanceType = "t3.micro"
        values.imageID = "ami-0123"
        values.keyPairName = "portal"
        values.identityFile = "~/.ssh/portal"
        values.securityGroupID = "sg-0123"
        values.availabilityZone = "us-east-1a"
        values.remoteUser = "ada"
        values.sshAddress = .privateIP
        let draft = PortalSpec.draft(values)
        #expect(draft["spot_instance"]?["subnet_id"] == nil && draft["spot_fleet"] == nil)
        let (spec, warnings) = try validate(draft, strict: true)
        #expect(warnings.isEmpty)
        #expect(spec.spotInstance.remoteUser == "ada" && spec.ssh.address == .privateIP && spec.spotFleet == nil)
        values.subnetID = "subnet-0123"
        #expect(try validate(PortalSpec.draft(values), strict: true).spec.spotInstance.subnetID == "subnet-0123")
    }

    // MARK: Values

    @Test("defaults are filled: remote user ubuntu, remote group the user, channels one-way every second")
    func defaults() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["remote_user"] = "ec2-user"
        spec["channels"] = [["direction": "in", "local_path": "out", "remote_path": "/r"]]
        let (parsed, _) = try validate(spec)
        #expect(parsed.spotInstance.remoteUser == "ec2-user")
        #expect(parsed.spotInstance.remoteGroup == "ec2-user")
        #expect(parsed.spotInstance.ebsOptimized == false)
        #expect(parsed.spotFleet == nil)
        #expect(parsed.channels == [PortalSpec.Channel(direction: .in, localPath: "/projects/demo/out", remotePath: "/r",
                                                       recursive: false, delay: 1.0, delete: false)])
        #expect(parsed.ssh == PortalSpec.SSH(address: .publicDNS, host: nil, port: 22))
    }

    @Test("~ is expanded in the identity file and in local paths, which become absolute from the spec's folder")
    func pathsAreNormalised() throws {
        var spec = minimalSpec
        spec["channels"] = [
            ["direction": "out", "local_path": "~/code/", "remote_path": "/r/code"],
            ["direction": "in", "local_path": "../results/./x/..", "remote_path": "/r/results"],
            ["direction": "in", "local_path": "/abs//path", "remote_path": "/r/other"],
        ]
        let (parsed, _) = try validate(spec)
        #expect(parsed.spotInstance.identityFile == TestHome.path + "/.ssh/portal")
        #expect(parsed.channels.map(\.localPath) == [TestHome.path + "/code/", "/projects/results/", "/abs/path"])
    }

    @Test("channels of the same direction may share a tree; in and out over sibling trees are fine")
    func channelsThatDoNotLoop() throws {
        var spec = minimalSpec
        spec["channels"] = [
            ["direction": "out", "local_path": "src", "remote_path": "/data/src"],
            ["direction": "out", "local_path": "src/lib", "remote_path": "/data/src/lib"],
            ["direction": "in", "local_path": "srcs", "remote_path": "/data/srcs"],
        ]
        #expect(try validate(spec).spec.channels.count == 3)
    }

    @Test("an identity file that is not a private key file is not checked when files are not")
    func identityFileCheckCanBeSkipped() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["identity_file"] = "/nonexistent/key"
        let (parsed, _) = try PortalSpec.validate(json: spec, file: "t.json", strict: true, directory: "/",
                                                  home: TestHome.path, checkFiles: false)
        #expect(parsed.spotInstance.identityFile == "/nonexistent/key")
    }

    @Test("text that is not JSON is refused with its line and column")
    func notJSON() {
        let error = #expect(throws: SpecError.self) { try validate("{\n  \"spot_instance\": {\n    \"a\": 1,,\n", file: "gpu.json") }
        #expect(error?.description == "'gpu.json': not JSON: line 3, column 12: unexpected ',', expected a string key")
        #expect(error?.exitStatus == .dataError)
    }

    // MARK: Portal documents

    @Test("a document keeps the keys later stages added, in their order, and writes them back")
    func documentPassesThrough() throws {
        let (first, _) = try validate(minimalSpec)
        let text = """
            {"name":"gpu","spec":\(first.toJSON().serialized()),"instance":{"id":"i-0123","state":"running"},\
            "attachments":[{"volume_id":"vol-1","device":"/dev/xvdf"}],"x-extra":null}
            """
        let input = try JSON(parsing: text)
        var document = try PortalDocument(json: input)
        #expect(document.name == "gpu")
        #expect(document.spec == first)
        #expect(document.instance?.id == "i-0123")
        #expect(document.attachments == [Attachment(volumeID: "vol-1", instanceID: nil, device: "/dev/xvdf")])
        #expect(document.json == input)

        document.mounts = [MountResult(volumeID: "vol-1", device: "/dev/xvdf", foundBy: "name", mountPoint: "/home/ubuntu/data",
                                       formatted: false, filesystem: "ext4", sizeBytes: 1, filesystemBytes: 1, grown: false,
                                       alreadyMounted: false)]
        document.spec.ssh.port = 2222
        let written = document.json
        #expect(written.objectValue?.keys == ["name", "spec", "instance", "attachments", "x-extra", "mounts"])
        #expect(written["spec"]?["ssh"]?["port"] == 2222)
        #expect(written["instance"] == input["instance"])
        #expect(written["mounts"]?[0]?["mount_point"] == "/home/ubuntu/data")
        #expect(try PortalDocument(json: written).spec.ssh.port == 2222)
    }

    @Test("ids: the prefix and 1 to 17 lowercase hex digits; a document's that is not one is refused (65) when a stage needs it, and ids are written back as the plain strings read")
    func documentIDs() throws {
        // (`VolumeID("literal")` is the literal, checked by a precondition: these go through variables.)
        let good = ["vol-0123456789abcdef0", "vol-1"], bad = ["vol-", "vol-ABC", "vol-0123456789abcdef01", "vol-12 34", "i-0abc", "vol-../x"]
        #expect(good.compactMap { VolumeID($0)?.rawValue } == good)
        for text in bad { #expect(VolumeID(text) == nil, "\(text)") }
        #expect(["i-0abc\n@cert-authority", "vol-1", "i-"].compactMap { InstanceID($0) }.isEmpty)
        #expect(try VolumeInput.volumeID("vol-1234abcd").rawValue == "vol-1234abcd")
        let (spec, _) = try validate(minimalSpec)
        func document(_ members: String) throws -> PortalDocument {
            try PortalDocument(json: JSON(parsing: "{\"name\":\"gpu\",\"spec\":\(spec.toJSON().serialized()),\(members)}"))
        }
        let badAttachment = try document(#""attachments":[{"volume_id":"vol-1","instance_id":"i-xyz"}]"#)
        let error = #expect(throws: Failure.self) { try badAttachment.requireAttachments() }
        #expect(error?.exitStatus == .dataError)
        #expect(error?.message == #"<stdin>: attachments[0].instance_id: expected an instance id such as "i-0123456789abcdef0", found "i-xyz""#)
        let badInstance = try document(#""instance":{"id":"i-0ABC"}"#)
        #expect(throws: Failure.self) { try badInstance.givenInstance() }
        var opened = try document(#""instance":{"id":"i-0abc","state":"running"},"attachments":[{"volume_id":"vol-0a1b","instance_id":"i-0abc"}]"#)
        let read = opened.json
        opened.attachments = opened.attachments
        opened.instance = opened.instance
        #expect(opened.json["attachments"] == read["attachments"])
        #expect(opened.json["instance"]?["id"] == "i-0abc")
    }

    @Test("a new document is {name, spec}, in that order")
    func newDocument() throws {
        let (spec, _) = try validate(minimalSpec)
        let json = PortalDocument(name: "cpu", spec: spec).json
        #expect(json.objectValue?.keys == ["name", "spec"])
        #expect(json["spec"] == spec.toJSON())
    }

    @Test("a document's spec is validated again, with paths from the document's root")
    func documentSpecIsValidated() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["image_id"] = nil
        var error = #expect(throws: SpecError.self) { try PortalDocument(json: ["name": "gpu", "spec": spec], checkFiles: false) }
        #expect(error?.description == "<stdin>: spec.spot_instance.image_id: required, not found")
        #expect(error?.exitStatus == .dataError)

        error = #expect(throws: SpecError.self) { try PortalDocument(json: ["spec": minimalSpec], checkFiles: false) }
        #expect(error?.description == "<stdin>: name: required, not found")
        error = #expect(throws: SpecError.self) { try PortalDocument(json: ["name": 3, "spec": minimalSpec], checkFiles: false) }
        #expect(error?.description == "<stdin>: name: expected a string, found 3")
        error = #expect(throws: SpecError.self) { try PortalDocument(json: ["name": "gpu"]) }
        #expect(error?.description == "<stdin>: spec: required, not found")
        error = #expect(throws: SpecError.self) { try PortalDocument(json: [1, 2]) }
        #expect(error?.description == "<stdin>: expected a portal document (an object with \"name\" and \"spec\"), found an array")
    }

    @Test("a portal's name is its spec file's name without .json")
    func names() {
        #expect(PortalDocument.name(forSpecFile: "gpu.json") == "gpu")
        #expect(PortalDocument.name(forSpecFile: "specs/gpu.v2.json") == "gpu.v2")
        #expect(PortalDocument.name(forSpecFile: "/a/cpu") == "cpu")
        #expect(PortalDocument.nameProblem("gpu") == nil)
        #expect(PortalDocument.nameProblem("") != nil)
        #expect(PortalDocument.nameProblem("a/b") != nil)
        #expect(PortalDocument.nameProblem("a\nb") != nil)
    }

    @Test("a spec file is named after its file, and its local paths start from its folder")
    func specFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-spec-file-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var spec = minimalSpec
        spec["channels"] = [["direction": "out", "local_path": "./src/", "remote_path": "/r"]]
        try Data(spec.serialized().utf8).write(to: URL(fileURLWithPath: folder + "/train.json"))

        let (document, warnings) = try PortalDocument.fromSpecFile(folder + "/train.json", home: TestHome.path)
        #expect(warnings.isEmpty)
        #expect(document.name == "train")
        #expect(document.spec.channels.first?.localPath == folder + "/src/")
        #expect(try PortalDocument.fromSpecFile(folder + "/train.json", name: "other", home: TestHome.path).document.name == "other")
    }

    @Test("a spec file that is missing or a folder is refused with exit status 65")
    func missingSpecFile() {
        var error = #expect(throws: SpecError.self) { try PortalDocument.fromSpecFile("/nonexistent/x.json") }
        #expect(error?.description == "'/nonexistent/x.json': no such file")
        #expect(error?.exitStatus == .dataError)
        error = #expect(throws: SpecError.self) { try PortalDocument.fromSpecFile("/tmp") }
        #expect(error?.description == "'/tmp': is a folder, not a spec file")
    }
}
