import Foundation
import PortalBase
import Testing

/// Portal Gun 0.x's documented commands (its docs/commands.rst), typed as
/// its users type them, run against the local cloud: the volume group, and
/// init, open, info and close. What needs an SSH session of the user's own
/// (ssh, channel) is left to the unit tests.
@Suite(.enabled(if: LocalCloud.available), .serialized)
struct CompatIntegrationTests {
    /// The caller's ARN, as Portal Gun 0.x tagged its volumes with it.
    static let arn: String = {
        (try? run("portal-ec2", ["--service", "sts", "GetCallerIdentity"]))?.json?["GetCallerIdentityResult"]?["Arn"]?
            .stringValue ?? ""
    }()

    func tags(_ id: String) throws -> [String: String] {
        let answer = try run("portal-ec2", stdin: #"{"Action": "DescribeVolumes", "VolumeId.1": "\#(id)"}"#)
        var tags: [String: String] = [:]
        for tag in answer.json?["volumeSet"]?[0]?["tagSet"]?.arrayValue ?? [] {
            if let key = tag["key"]?.stringValue { tags[key] = tag["value"]?.stringValue ?? "" }
        }
        return tags
    }

    func volumesNamed(_ name: String) throws -> [String] {
        let answer = try run("portal-ec2", stdin: """
            {"Action": "DescribeVolumes", "Filters": [{"Name": "tag:Name", "Values": ["\(name)"]}]}
            """)
        return (answer.json?["volumeSet"]?.arrayValue ?? []).compactMap { $0["volumeId"]?.stringValue }
    }

    @Test("volume create, list, update, delete as docs/commands.rst gives them; answers on stdin; several tags after one -t")
    func volumeGroup() throws {
        let name = "compat-\(UUID().uuidString.prefix(8).lowercased())"
        // `portal volume create` with nothing given: name, size and zone asked on stdin, not a terminal.
        let created = try run("portal", ["volume", "create", "-t", "project:nlp", "owner:ada"],
                              stdin: "\(name)\n2\nus-east-1a\n")
        #expect(created.status == 0, "\(created.stderr)")
        let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("vol-"))
        defer { _ = try? run("portal", ["volume", "delete", "-f", id]) }
        #expect(created.stderr.contains("name (optional): \(name)\n") && created.stderr.contains("availability zone: us-east-1a\n"))
        let written = try tags(id)
        #expect(written["Name"] == name && written["dimension"] == "C-137" && written["created-by"] == Self.arn)
        #expect(written["project"] == "nlp" && written["owner"] == "ada")

        let list = try run("portal", ["volume", "list"])
        #expect(list.status == 0, "\(list.stderr)")
        let row = list.stdout.split(separator: "\n").first { $0.hasPrefix(id) }.map(String.init) ?? ""
        #expect(row.contains(name) && row.contains("2 GiB") && row.hasSuffix("owner:ada project:nlp"), "\(list.stdout)")
        #expect(try run("portal", ["volume", "list", "-a"]).stdout.contains(id))

        // --tags, and the tags before the volume id, as argparse's nargs='+' allowed.
        let update = try run("portal", ["volume", "update", "--tags", "stage:train", id, "-n", name + "-2", "-s", "3"])
        #expect(update.status == 0, "\(update.stderr)")
        #expect(!update.stderr.contains("resize2fs"))
        #expect(update.stderr.contains("the next 'portal open' grows its file system"))
        let updated = try tags(id)
        #expect(updated["stage"] == "train" && updated["Name"] == name + "-2")
        let before = try run("portal", ["volume", "update", "-t", "stage:eval", id])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(try tags(id)["stage"] == "eval")

        // Nothing to change: said, exit 0.
        let nothing = try run("portal", ["volume", "update", id])
        #expect(nothing.status == 0)
        #expect(nothing.stderr.contains("nothing to update"))
        let same = try run("portal", ["volume", "update", id, "-n", name + "-2"])
        #expect(same.status == 0)
        #expect(same.stderr.contains("nothing to change"))

        let delete = try run("portal", ["volume", "delete", id])
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try volumesNamed(name + "-2").isEmpty)
    }

    @Test("a zone outside the region is refused before CreateVolume; at the end of stdin a zone must be given")
    func zoneOutsideRegion() throws {
        let name = "compat-\(UUID().uuidString.prefix(8).lowercased())"
        let wrong = try run("portal", ["volume", "create", "-n", name, "-s", "1", "-z", "eu-west-1a"])
        #expect(wrong.status == 64)
        #expect(wrong.stderr.contains("availability zone 'eu-west-1a' is not in the region us-east-1"), "\(wrong.stderr)")
        let silent = try run("portal", ["volume", "create", "-n", name, "-s", "1"])
        #expect(silent.status == 64)
        #expect(silent.stderr.contains("missing availability zone"))
        #expect(try volumesNamed(name).isEmpty)
    }

    @Test("a volume Portal Gun 0.x created (created-by and dimension C-137) is listed, updated and deleted as one's own")
    func originalsVolume() throws {
        let name = "compat-\(UUID().uuidString.prefix(8).lowercased())"
        let made = try run("portal-ec2", ["CreateVolume"], stdin: """
            {"Size": 1, "AvailabilityZone": "us-east-1a", "TagSpecification.1.ResourceType": "volume",
             "TagSpecification.1.Tag.1.Key": "Name", "TagSpecification.1.Tag.1.Value": "\(name)",
             "TagSpecification.1.Tag.2.Key": "created-by", "TagSpecification.1.Tag.2.Value": "\(Self.arn)",
             "TagSpecification.1.Tag.3.Key": "dimension", "TagSpecification.1.Tag.3.Value": "C-137"}
            """)
        let id = try #require(made.json?["volumeId"]?.stringValue, "\(made.stderr)")
        defer { _ = try? run("portal", ["volume", "delete", "-f", id]) }
        #expect(try run("portal", ["volume", "list"]).stdout.contains(id))
        #expect(try run("portal", ["volume", "update", id, "-t", "moved:yes"]).status == 0)
        let delete = try run("portal", ["volume", "delete", id])
        #expect(delete.status == 0, "\(delete.stderr)")
    }

    @Test("portal -c FILE reads Portal Gun 0.x's config, in its first form and in the dev branch's {\"aws\": {...}}")
    func legacyConfig() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("compat-config-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let env = LocalCloud.environment
        let key = env["AWS_ACCESS_KEY_ID"] ?? "", secret = env["AWS_SECRET_ACCESS_KEY"] ?? ""
        let forms = [
            #"{"aws_region": "us-east-1", "aws_access_key": "\#(key)", "aws_secret_key": "\#(secret)"}"#,
            #"{"aws": {"region": "us-east-1", "access_key": "\#(key)", "secret_key": "\#(secret)"}}"#,
        ]
        // Nothing from the environment but the endpoint: the file must do it all.
        let bare = ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
                    "AWS_PROFILE": "", "HOME": folder.path]
        for (index, form) in forms.enumerated() {
            let file = folder.appendingPathComponent("config-\(index).json").path
            try form.write(toFile: file, atomically: true, encoding: .utf8)
            let listed = try run("portal", ["-c", file, "volume", "list", "-a", "--json"], environment: bare)
            #expect(listed.status == 0, "\(form): \(listed.stderr)")
            #expect(listed.json?.arrayValue != nil)
            let long = try run("portal", ["--config", file, "volume", "list", "-a"], environment: bare)
            #expect(long.status == 0, "\(long.stderr)")
        }
        let missing = try run("portal", ["-c", folder.appendingPathComponent("none.json").path, "volume", "list"],
                              environment: bare)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("none.json' (portal -c, PORTAL_CONFIG): no such file"))
    }

    @Test("portal init on the local cloud writes a spec that opens as it is; info -f status says open, then close")
    func initOpenInfoClose() throws {
        let p = try TestPortal(volumes: 0)
        // What bin/local-cloud up exports; nothing else.
        let local = LocalCloud.environment.filter { $0.key.hasPrefix("PORTAL_LOCAL_") }
        try #require(local["PORTAL_LOCAL_IMAGE_ID"] != nil, "the local cloud exports no PORTAL_LOCAL_IMAGE_ID")
        let name = "init" + p.name
        defer { _ = try? p.portal(["close", name]) }
        let made = try p.portal(["init", name], environment: local)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stderr.contains("open it with 'portal open \(name)'"))
        let spec = try String(contentsOf: p.folder.appendingPathComponent(name + ".json"), encoding: .utf8)
        #expect(!spec.contains("<"))
        let checked = try run("portal-spec", [p.folder.appendingPathComponent(name + ".json").path])
        #expect(checked.status == 0, "\(checked.stderr)")

        let open = try p.portal(["open", name])
        #expect(open.status == 0, "\(open.stderr)")
        #expect(open.stderr.contains("          or: ssh -i "))
        #expect(open.stderr.components(separatedBy: ": running").count == 1, "\(open.stderr)")
        let status = try p.portal(["info", name, "-f", "status"])
        #expect(status.stdout == "open\n")
        for field in ["name", "id", "type", "user", "host", "remote", "key"] {
            let value = try p.portal(["info", name, "-f", field])
            #expect(value.status == 0 && !value.stdout.isEmpty, "\(field): \(value.stderr)")
        }
        #expect(try p.portal(["info", name]).stdout.contains("portal '\(name)': open"))
        let close = try p.portal(["close", name])
        #expect(close.status == 0, "\(close.stderr)")
        #expect(try p.portal(["info", name, "-f", "status"]).stdout == "close\n")
    }

    @Test("portal init --from-account fills the zone, its default subnet, a security group and a Deep Learning AMI")
    func initFromAccount() throws {
        let p = try TestPortal(volumes: 0)
        let made = try p.portal(["init", "acct", "--from-account", "-z", "us-east-1b"])
        #expect(made.status == 0, "\(made.stderr)")
        let data = try Data(contentsOf: p.folder.appendingPathComponent("acct.json"))
        let instance = try JSON(parsing: Array(data))["spot_instance"]
        #expect(instance?["availability_zone"] == "us-east-1b")
        #expect(instance?["subnet_id"]?.stringValue?.hasPrefix("subnet-") == true)
        #expect(instance?["security_group_id"]?.stringValue?.hasPrefix("sg-") == true)
        #expect(instance?["image_id"]?.stringValue?.hasPrefix("ami-") == true && !(made.stderr.contains("no Ubuntu Deep")))
        let checked = try run("portal-spec", [p.folder.appendingPathComponent("acct.json").path])
        #expect(checked.stderr.contains("still to be filled: spot_instance.instance_type, spot_instance.key_pair_name, spot_instance.identity_file"))
    }

    @Test("info shows each volume's name and size")
    func infoVolumes() throws {
        let p = try TestPortal(volumes: 1)
        _ = try run("portal-ec2", ["CreateTags"], stdin: #"{"ResourceId.1": "\#(p.volumes[0])", "Tag.1.Key": "Name", "Tag.1.Value": "dataset"}"#)
        let open = try p.portal(["open", p.name, "--no-mount"])
        #expect(open.status == 0, "\(open.stderr)")
        defer { _ = try? p.portal(["close", p.name]) }
        let info = try p.portal(["info", p.name])
        #expect(info.stdout.contains("(dataset, 1 GiB, "), "\(info.stdout)")
    }

    @Test("every spec of the compat corpus passes portal-spec, with its warnings on stderr")
    func corpusThroughPortalSpec() throws {
        let corpus = Manual.repository.appendingPathComponent("Tests/PortalModelTests/Fixtures/specs/compat")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus.path).filter { $0.hasSuffix(".json") }
        #expect(names.count >= 25)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("compat-home-\(UUID())")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".ssh"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let key = home.appendingPathComponent(".ssh/portal").path
        _ = FileManager.default.createFile(atPath: key, contents: Data("not a real key\n".utf8))
        chmod(key, 0o600)
        for name in names {
            let result = try run("portal-spec", ["--strict", corpus.appendingPathComponent(name).path],
                                 environment: ["HOME": home.path])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let expected = try String(contentsOf: corpus.appendingPathComponent(String(name.dropLast(5)) + ".expected"),
                                      encoding: .utf8)
            let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("portal-spec: warning: ") }.count
            #expect(warnings == expected.split(separator: "\n").count, "\(name): \(result.stderr)")
        }
    }
}

/// What a newcomer meets first, without a cloud: one message for an unknown
/// command, and completion of `portal help <Tab>`.
@Suite struct NewcomerTests {
    @Test("portal bar and portal help bar say the same thing, in git's way, with the closest command")
    func unknownCommand() throws {
        let direct = try run("portal", ["opne"])
        let help = try run("portal", ["help", "opne"])
        #expect(direct.status == 64 && help.status == 64)
        #expect(direct.stderr == help.stderr)
        #expect(direct.stderr.contains("'opne' is not a portal command"))
        #expect(direct.stderr.contains("the most similar command is 'open'"))
    }

    @Test("bash completes portal help <Tab> with the topics: one _portal_help")
    func helpCompletion() throws {
        let script = try run("portal", ["--generate-completion-script", "bash"])
        #expect(script.status == 0)
        #expect(script.stdout.components(separatedBy: "\n_portal_help() {").count == 2)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("completion-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("portal.bash").path
        try script.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let portalFolder = (Binaries.path("portal") as NSString).deletingLastPathComponent
        let completed = try run("/bin/bash", ["-c", """
            source '\(file)'; COMP_WORDS=(portal help ''); COMP_CWORD=2; COMP_LINE='portal help '; \
            COMP_POINT=${#COMP_LINE}; _portal; printf '%s\\n' "${COMPREPLY[@]}"
            """], environment: ["PATH": portalFolder + ":/usr/bin:/bin"], directory: folder.path)
        let topics = completed.stdout.split(separator: "\n")
        #expect(topics.contains("open") && topics.contains("volume") && topics.contains("format"), "\(completed.stderr)")
    }
}
