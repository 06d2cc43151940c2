import Foundation
import PortalBase
import Testing

/// `portal volume create | list | update | delete`, the built binary against
/// moto. Tests run in parallel on one shared moto: each names its volumes
/// uniquely, never assumes an empty account, and deletes what it made, even
/// when it fails.
@Suite(.enabled(if: LocalCloud.available))
struct VolumeIntegrationTests {
    /// Another identity's ARN, for volumes "someone else" created.
    static let stranger = "arn:aws:iam::999999999999:user/someone-else"

    static func uniqueName(_ prefix: String = "it-vol") -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The caller's ARN, as STS names it.
    static func callerARN() throws -> String {
        let result = try run("portal-ec2", ["--service", "sts", "GetCallerIdentity"])
        return try #require(result.json?["GetCallerIdentityResult"]?["Arn"]?.stringValue)
    }

    /// One EC2 call through portal-ec2, which must succeed.
    @discardableResult
    static func ec2(_ action: String, _ parameters: String) throws -> JSON {
        let result = try run("portal-ec2", [action], stdin: parameters)
        #expect(result.status == 0, "\(action): \(result.stderr)")
        return result.json ?? .null
    }

    /// Waits until EC2 says the instance runs, as AttachVolume needs (else
    /// IncorrectState); a new id may be unknown for a moment (eventual consistency).
    static func waitUntilRunning(_ id: String, timeout: TimeInterval = 120) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let result = try run("portal-ec2", ["DescribeInstances"], stdin: #"{"InstanceIds": ["\#(id)"]}"#)
            let state = result.json?["reservationSet"]?[0]?["instancesSet"]?[0]?["instanceState"]?["name"]?.stringValue
            if state == "running" { return }
            usleep(200_000)
        }
        Issue.record("instance \(id) did not run within \(Int(timeout)) s")
    }

    /// The volume as EC2 describes it now, or nil when it is gone.
    static func describe(_ id: String) throws -> JSON? {
        try ec2("DescribeVolumes", #"{"Filters": [{"Name": "volume-id", "Values": ["\#(id)"]}]}"#)["volumeSet"]?[0]
    }

    /// A volume made straight through EC2, as someone else (or no one) would.
    static func createRaw(name: String, createdBy: String?, zone: String = "us-east-1a") throws -> String {
        var tags = [#"{"Key": "Name", "Value": "\#(name)"}"#]
        if let createdBy { tags.append(#"{"Key": "created-by", "Value": "\#(createdBy)"}"#) }
        let volume = try ec2("CreateVolume", """
            {"Size": 1, "AvailabilityZone": "\(zone)", "VolumeType": "gp3",
             "TagSpecifications": [{"ResourceType": "volume", "Tags": [\(tags.joined(separator: ", "))]}]}
            """)
        return try #require(volume["volumeId"]?.stringValue)
    }

    /// Deletes volumes left behind, ignoring those already gone.
    static func cleanUp(_ ids: [String]) {
        for id in ids { _ = try? run("portal-ec2", ["DeleteVolume"], stdin: #"{"VolumeId": "\#(id)"}"#) }
    }

    static func listed(_ arguments: [String] = []) throws -> [JSON] {
        let result = try run("portal", ["volume", "list", "--json"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(result.json?.arrayValue, "not a JSON array: \(result.stdout)")
    }

    static func create(_ arguments: [String]) throws -> String {
        let result = try run("portal", ["volume", "create"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let id = result.stdout.trimmingCharacters(in: .newlines)
        #expect(result.stdout == id + "\n", "stdout holds the id alone")
        #expect(id.hasPrefix("vol-"))
        return id
    }

    @Test("a volume's life: create, list, grow, refuse to shrink, rename and tag, delete")
    func lifecycle() throws {
        let name = Self.uniqueName()
        let created = try run("portal", ["volume", "create", "-n", name, "-s", "2", "-z", "us-east-1b",
                                         "-t", "project:it", "-t", "url:https://x.org"])
        #expect(created.status == 0, "\(created.stderr)")
        let id = created.stdout.trimmingCharacters(in: .newlines)
        defer { Self.cleanUp([id]) }
        #expect(created.stdout == id + "\n")
        #expect(created.stderr.contains("created '\(id)' (\(name), 2 GiB gp3, us-east-1b)"))

        // list: with its name, size, zone, owner and tags.
        let volume = try #require(try Self.listed().first { $0["volume_id"] == .string(id) })
        #expect(volume["name"] == .string(name))
        #expect(volume["size_gib"] == 2)
        #expect(volume["zone"] == "us-east-1b")
        #expect(volume["state"] == "available")
        #expect(volume["type"] == "gp3")
        #expect(volume["instance_id"] == .null)
        #expect(volume["created_by"] == .string(try Self.callerARN()))
        #expect(volume["tags"]?["project"] == "it")
        #expect(volume["tags"]?["url"] == "https://x.org")
        let table = try run("portal", ["volume", "list"])
        #expect(table.status == 0)
        #expect(table.stdout.hasPrefix("ID "))
        let line = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix(id) })
        #expect(line.contains(name) && line.contains("2 GiB") && line.contains("us-east-1b") && line.contains("available"))

        // grow
        let grown = try run("portal", ["volume", "update", id, "-s", "5"])
        #expect(grown.status == 0, "\(grown.stderr)")
        #expect(grown.stderr.contains("grew '\(id)' from 2 GiB to 5 GiB"))
        #expect(try Self.describe(id)?["size"] == 5)

        // shrink: refused before ModifyVolume, size unchanged
        let shrunk = try run("portal", ["volume", "update", id, "-s", "3"])
        #expect(shrunk.status == 65)
        #expect(shrunk.stderr.contains("portal: error: cannot shrink '\(id)' from 5 GiB to 3 GiB"))
        #expect(try Self.describe(id)?["size"] == 5)

        // the same size: nothing to do, and it says so
        let same = try run("portal", ["volume", "update", id, "-s", "5"])
        #expect(same.status == 0)
        #expect(same.stderr.contains("'\(id)' is already 5 GiB: size unchanged"))

        // rename and tag, in one call
        let renamed = try run("portal", ["volume", "update", id, "-n", name + "-2", "-t", "stage:two", "-v"])
        #expect(renamed.status == 0, "\(renamed.stderr)")
        #expect(renamed.stderr.contains("ec2 CreateTags"))
        #expect(!renamed.stderr.contains("ModifyVolume"))
        let after = try #require(try Self.listed().first { $0["volume_id"] == .string(id) })
        #expect(after["name"] == .string(name + "-2"))
        #expect(after["tags"]?["stage"] == "two")
        #expect(after["tags"]?["project"] == "it")

        // delete
        let deleted = try run("portal", ["volume", "delete", id])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(deleted.stdout.isEmpty)
        #expect(deleted.stderr.contains("deleted '\(id)' (\(name)-2, 5 GiB gp3, us-east-1b)"))
        #expect(try Self.describe(id) == nil)
        #expect(try !Self.listed().contains { $0["volume_id"] == .string(id) })
    }

    @Test("list shows only the caller's volumes by default, everyone's with -a")
    func listOwnership() throws {
        let mine = try Self.create(["-n", Self.uniqueName(), "-s", "1", "-z", "us-east-1a", "-q"])
        let theirs = try Self.createRaw(name: Self.uniqueName("it-theirs"), createdBy: Self.stranger)
        let nobodys = try Self.createRaw(name: Self.uniqueName("it-nobody"), createdBy: nil)
        defer { Self.cleanUp([mine, theirs, nobodys]) }

        let own = try Self.listed().compactMap { $0["volume_id"]?.stringValue }
        #expect(own.contains(mine))
        #expect(!own.contains(theirs) && !own.contains(nobodys))
        let all = try Self.listed(["-a"])
        #expect(all.contains { $0["volume_id"] == .string(theirs) && $0["created_by"] == .string(Self.stranger) })
        #expect(all.contains { $0["volume_id"] == .string(nobodys) && $0["created_by"] == .null })
        #expect(all.contains { $0["volume_id"] == .string(mine) })
    }

    @Test("list makes one DescribeVolumes call, and -v shows it")
    func listIsOneCall() throws {
        _ = try run("portal", ["volume", "list"])  // the identity is cached from here on
        let result = try run("portal", ["volume", "list", "-v"])
        #expect(result.status == 0)
        let calls = result.stderr.split(separator: "\n").filter { $0.hasPrefix("portal: ec2 ") || $0.hasPrefix("portal: sts ") }
        #expect(calls.count == 1, "\(calls)")
        #expect(calls.first?.hasPrefix("portal: ec2 DescribeVolumes -> 200") == true)
    }

    @Test("delete refuses another's volume, and one Portal Gun did not make, without -f; -f deletes them")
    func deleteOwnership() throws {
        let theirs = try Self.createRaw(name: Self.uniqueName("it-theirs"), createdBy: Self.stranger)
        let nobodys = try Self.createRaw(name: Self.uniqueName("it-nobody"), createdBy: nil)
        defer { Self.cleanUp([theirs, nobodys]) }

        let refused = try run("portal", ["volume", "delete", theirs])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains(
            "portal: error: '\(theirs)' is not yours: it was created by \(Self.stranger); use -f to delete it anyway"))
        #expect(try Self.describe(theirs) != nil)

        let update = try run("portal", ["volume", "update", theirs, "-n", "mine-now"])
        #expect(update.status == 1)
        #expect(update.stderr.contains("use -f to update it anyway"))
        #expect(try Self.describe(theirs)?["tagSet"]?.arrayValue?.contains(["key": "Name", "value": "mine-now"]) == false)

        let untagged = try run("portal", ["volume", "delete", nobodys])
        #expect(untagged.status == 1)
        #expect(untagged.stderr.contains("'\(nobodys)' was not created by Portal Gun (it has no created-by tag)"))

        let forced = try run("portal", ["volume", "delete", "-f", theirs, nobodys])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("deleted '\(theirs)'") && forced.stderr.contains("deleted '\(nobodys)'"))
        #expect(try Self.describe(theirs) == nil && Self.describe(nobodys) == nil)
    }

    @Test("delete checks every volume first: one refused, none deleted")
    func deleteAllOrNothing() throws {
        let mine = try Self.create(["-s", "1", "-z", "us-east-1a", "-q"])
        defer { Self.cleanUp([mine]) }
        let missing = "vol-0000000000000000f"
        let result = try run("portal", ["volume", "delete", mine, missing])
        #expect(result.status == 1)
        #expect(result.stderr.contains("portal: error: no volume '\(missing)' in us-east-1"))
        #expect(result.stderr.contains("nothing was deleted"))
        #expect(try Self.describe(mine) != nil)
    }

    @Test("a volume in use is refused, naming the instance and the portal that hold it")
    func deleteInUse() throws {
        let name = Self.uniqueName()
        let id = try Self.create(["-n", name, "-s", "1", "-z", "us-east-1a", "-q"])
        var instance: String?
        defer {
            if let instance {
                _ = try? run("portal-ec2", ["DetachVolume"], stdin: #"{"VolumeId": "\#(id)", "InstanceId": "\#(instance)"}"#)
                _ = try? run("portal-ec2", ["TerminateInstances"], stdin: #"{"InstanceIds": ["\#(instance)"]}"#)
            }
            Self.cleanUp([id])
        }
        let images = try Self.ec2("DescribeImages", #"""
            {"Owners": ["amazon"], "Filters": [{"Name": "name", "Values": ["*ubuntu*"]}]}
            """#)
        let image = try #require(images["imagesSet"]?[0]?["imageId"]?.stringValue)
        let launched = try Self.ec2("RunInstances", """
            {"ImageId": "\(image)", "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro",
             "Placement": {"AvailabilityZone": "us-east-1a"}}
            """)
        instance = try #require(launched["instancesSet"]?[0]?["instanceId"]?.stringValue)
        let instanceID = try #require(instance)
        try Self.waitUntilRunning(instanceID)
        try Self.ec2("AttachVolume", #"{"VolumeId": "\#(id)", "InstanceId": "\#(instanceID)", "Device": "/dev/xvdf"}"#)
        // What portal-volume-attach writes while a portal holds the volume.
        try Self.ec2("CreateTags", """
            {"Resources": ["\(id)"], "Tags": [{"Key": "portal-name", "Value": "\(name)"},
             {"Key": "mount-point", "Value": "/home/ubuntu/data"}]}
            """)

        let listedVolume = try #require(try Self.listed().first { $0["volume_id"] == .string(id) })
        #expect(listedVolume["instance_id"] == .string(instanceID))
        #expect(listedVolume["portal"] == .string(name))
        #expect(listedVolume["mount_point"] == "/home/ubuntu/data")
        #expect(listedVolume["device"] == "/dev/xvdf")
        let table = try run("portal", ["volume", "list"])
        let line = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix(id) })
        #expect(line.contains(instanceID) && line.contains(name) && line.contains("/home/ubuntu/data"))

        let refused = try run("portal", ["volume", "delete", id])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("portal: error: '\(id)' is in use: attached to \(instanceID) (portal '\(name)'); close the portal first: portal close \(name)"))
        #expect(try Self.describe(id) != nil)
        let forced = try run("portal", ["volume", "delete", "-f", id])
        #expect(forced.status == 1, "-f overrides ownership, not use")
        #expect(forced.stderr.contains("is in use"))

        // Once detached and the instance gone, the volume can go.
        try Self.ec2("DetachVolume", #"{"VolumeId": "\#(id)", "InstanceId": "\#(instanceID)"}"#)
        try Self.ec2("TerminateInstances", #"{"InstanceIds": ["\#(instanceID)"]}"#)
        instance = nil
        let deleted = try run("portal", ["volume", "delete", id])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try Self.describe(id) == nil)
    }

    @Test("create checks its arguments before any AWS call: usage errors, exit 64")
    func createValidation() throws {
        // Nothing listens on port 9: a call would fail with another status.
        let offline = ["AWS_ENDPOINT_URL": "http://127.0.0.1:9"]
        let cases: [([String], String)] = [
            (["-n", "x", "-s", "1"], "portal: error: missing availability zone: give one with -z ZONE"),
            (["-s", "0", "-z", "us-east-1a"], "invalid size '0': expected a whole number of GiB from 1 to 16384"),
            (["-s", "20000", "-z", "us-east-1a"], "invalid size '20000'"),
            (["-t", ":v", "-z", "us-east-1a"], "invalid tag ':v': the key is empty"),
            (["-t", "novalue", "-z", "us-east-1a"], "invalid tag 'novalue': expected key:value"),
            (["--type", "gp4", "-z", "us-east-1a"], "invalid volume type 'gp4'"),
            (["--type", "st1", "-s", "50", "-z", "us-east-1a"], "invalid size '50' for a volume of type st1"),
            (["-S", "vol-12345678", "-z", "us-east-1a"], "invalid snapshot id 'vol-12345678'"),
        ]
        for (arguments, message) in cases {
            let result = try run("portal", ["volume", "create"] + arguments, environment: offline)
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        // Nothing to update is said, and is no error (as in Portal Gun 0.x), still without a call.
        let update = try run("portal", ["volume", "update", "vol-0123456789abcdef0"], environment: offline)
        #expect(update.status == 0)
        #expect(update.stderr.contains("nothing to update: 'vol-0123456789abcdef0' is left as it is"))
        let badID = try run("portal", ["volume", "delete", "data"], environment: offline)
        #expect(badID.status == 64)
        #expect(badID.stderr.contains("invalid volume id 'data'"))
    }

    @Test("create without -s makes 50 GiB, with --type and -t tags")
    func createDefaults() throws {
        let id = try Self.create(["-z", "us-east-1c", "--type", "gp2", "-t", "empty:", "-q"])
        defer { Self.cleanUp([id]) }
        let volume = try #require(try Self.describe(id))
        #expect(volume["size"] == 50)
        #expect(volume["volumeType"] == "gp2")
        #expect(volume["availabilityZone"] == "us-east-1c")
        #expect(volume["tagSet"]?.arrayValue?.contains(["key": "empty", "value": ""]) == true)
        #expect(volume["tagSet"]?.arrayValue?.contains { $0["key"] == "Name" } == false)
    }

    @Test("update and delete of a volume that does not exist say so and name the region")
    func notFound() throws {
        let missing = "vol-0000000000000000e"
        let update = try run("portal", ["volume", "update", missing, "-s", "10"])
        #expect(update.status == 1)
        #expect(update.stderr.contains("portal: error: no volume '\(missing)' in us-east-1"))
        let delete = try run("portal", ["volume", "delete", missing])
        #expect(delete.status == 1)
        #expect(delete.stderr.contains("portal: error: no volume '\(missing)' in us-east-1"))
        #expect(!delete.stderr.contains("nothing was deleted"))
    }

    @Test("an account without volumes: the table mode prints nothing and says so on stderr; --json prints []")
    func emptyList() throws {
        let moto = try MotoServer()  // a moto of its own: the shared one is never empty
        let environment = ["AWS_ENDPOINT_URL": moto.endpoint, "PORTAL_NO_CACHE": "1"]
        let table = try run("portal", ["volume", "list"], environment: environment)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.isEmpty)
        #expect(table.stderr == "portal: no volumes; create one with 'portal volume create'\n")
        let json = try run("portal", ["volume", "list", "--json", "-q"], environment: environment)
        #expect(json.status == 0)
        #expect(json.stdout == "[]\n")
        #expect(json.stderr.isEmpty)
    }
}
