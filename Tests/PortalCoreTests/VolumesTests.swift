import Foundation
import PortalAWS
import PortalBase
import Testing

@testable import PortalCore
@testable import PortalModel

/// One item of DescribeVolumes' `volumeSet` as the client decodes it (taken
/// from moto's answer): attached by Portal Gun, so tagged portal-name and
/// mount-point too.
let attachedVolumeJSON = #"""
    {"iops": 3000, "tagSet": [{"key": "Name", "value": "data"},
      {"key": "created-by", "value": "arn:aws:sts::123456789012:user/moto"},
      {"key": "portal-name", "value": "gpu"}, {"key": "mount-point", "value": "/home/ubuntu/data"},
      {"key": "project", "value": "nlp"}],
     "volumeType": "gp3", "volumeId": "vol-a7968977224810813", "size": 100,
     "availabilityZone": "us-east-1a", "status": "in-use", "createTime": "2026-11-29T13:50:20.000Z",
     "attachmentSet": [{"volumeId": "vol-a7968977224810813", "instanceId": "i-082947029bccdad4c",
       "device": "/dev/xvdf", "status": "attached", "attachTime": "2026-11-29T13:50:25.000Z"}],
     "snapshotId": "", "encrypted": false}
    """#

/// `portal volume`'s library: parsing a volume, the table, the checks on
/// arguments, the pure parts of the operations (`swift test --filter VolumesTests`).
@Suite struct VolumesTests {
    @Suite struct Parsing {
        @Test("a DescribeVolumes item becomes a typed volume: size, zone, state, attachment, Portal Gun's tags")
        func attached() throws {
            let volume = try Volume(json: JSON(parsing: Array(attachedVolumeJSON.utf8)))
            #expect(volume.id == "vol-a7968977224810813")
            #expect(volume.sizeGiB == 100)
            #expect(volume.zone == "us-east-1a")
            #expect(volume.state == "in-use")
            #expect(volume.type == "gp3")
            #expect(volume.iops == 3000)
            #expect(volume.snapshotID == nil)
            #expect(volume.name == "data")
            #expect(volume.portal == "gpu")
            #expect(volume.mountPoint == "/home/ubuntu/data")
            #expect(volume.createdBy == "arn:aws:sts::123456789012:user/moto")
            #expect(volume.instanceID == "i-082947029bccdad4c")
            #expect(volume.attachments == [.init(volumeID: volume.id, instanceID: "i-082947029bccdad4c", device: "/dev/xvdf",
                                                 state: "attached")])
            #expect(volume.isInUse)
            #expect(volume.tags["project"] == "nlp")
        }

        @Test("an available volume without tags has no name, portal, instance or owner")
        func bare() throws {
            let volume = try Volume(json: [
                "volumeId": "vol-0123456789abcdef0", "size": 8, "availabilityZone": "eu-west-1b",
                "status": "available", "volumeType": "gp2", "attachmentSet": [], "tagSet": [],
            ])
            #expect(volume.name == nil && volume.portal == nil && volume.instanceID == nil && volume.createdBy == nil)
            #expect(!volume.isInUse)
            #expect(volume.summary == "'vol-0123456789abcdef0' (8 GiB gp2, eu-west-1b)")
        }

        @Test("a detached attachment is no attachment; an empty Name is no name")
        func detachedAndEmpty() throws {
            let volume = try Volume(json: [
                "volumeId": "vol-0123456789abcdef0", "size": 8, "availabilityZone": "us-east-1a", "status": "available",
                "attachmentSet": [["instanceId": "i-1", "status": "detached"]], "tagSet": [["key": "Name", "value": ""]],
            ])
            #expect(volume.attachments.isEmpty && volume.name == nil)
        }

        @Test("an item without a volumeId is refused")
        func noID() {
            #expect(throws: Failure.self) { try Volume(json: ["size": 8]) }
        }

        @Test("the JSON of list --json has every key, snake_case, null when empty, tags sorted")
        func listingJSON() throws {
            let volume = try Volume(json: JSON(parsing: Array(attachedVolumeJSON.utf8)))
            let json = volume.json
            #expect(json.objectValue?.keys == [
                "volume_id", "name", "size_gib", "zone", "state", "type", "iops", "instance_id", "device", "portal",
                "mount_point", "created_by", "snapshot_id", "create_time", "tags",
            ])
            #expect(json["size_gib"] == 100)
            #expect(json["instance_id"] == "i-082947029bccdad4c")
            #expect(json["snapshot_id"] == .null)
            #expect(json["tags"]?.objectValue?.keys == ["Name", "created-by", "mount-point", "portal-name", "project"])
            let bare = Volume(id: "vol-0123456789abcdef0", sizeGiB: 1, zone: "us-east-1a").json
            #expect(bare["name"] == .null && bare["portal"] == .null && bare["mount_point"] == .null)
            #expect(bare["tags"] == .object(JSONObject()))
        }
    }

    @Suite struct Table {
        @Test("the table aligns its columns, right-aligns sizes, shows '-' for empty, the user's tags last, and ends lines without spaces")
        func alignment() throws {
            let attached = try Volume(json: JSON(parsing: Array(attachedVolumeJSON.utf8)))
            let free = Volume(id: "vol-0123456789abcdef0", sizeGiB: 8, zone: "us-east-1b",
                              tags: [Tag.name: "scratch-space"])
            let table = Volume.table([attached, free])
            #expect(table == """
                ID                     NAME              SIZE  ZONE        STATE      INSTANCE             PORTAL  MOUNT POINT        TAGS
                vol-a7968977224810813  data           100 GiB  us-east-1a  in-use     i-082947029bccdad4c  gpu     /home/ubuntu/data  project:nlp
                vol-0123456789abcdef0  scratch-space    8 GiB  us-east-1b  available  -                    -       -                  -

                """)
        }

        @Test("a newline in a tag cannot break the table")
        func controlCharacters() {
            let volume = Volume(id: "vol-0123456789abcdef0", sizeGiB: 8, zone: "z", tags: [Tag.name: "a\nb"])
            #expect(Volume.table([volume]).split(separator: "\n").count == 2)
            #expect(Volume.table([volume]).contains("a?b"))
        }

        @Test("volumes are listed by name, the unnamed last, ties by id")
        func order() {
            let volumes = [
                Volume(id: "vol-3", sizeGiB: 1, zone: "z"),
                Volume(id: "vol-2", sizeGiB: 1, zone: "z", tags: [Tag.name: "b"]),
                Volume(id: "vol-1", sizeGiB: 1, zone: "z"),
                Volume(id: "vol-4", sizeGiB: 1, zone: "z", tags: [Tag.name: "a"]),
            ]
            #expect(volumes.sorted(by: Volume.listingOrder).map(\.id) == ["vol-4", "vol-2", "vol-1", "vol-3"])
        }
    }

    @Suite struct Input {
        func message<T>(_ body: () throws -> T) -> String? {
            do { _ = try body(); return nil } catch let failure as Failure {
                #expect(failure.exitStatus == .usage)
                return failure.message
            } catch { return "\(error)" }
        }

        @Test("tags: key:value; an empty value is kept; colons after the first belong to the value")
        func tags() throws {
            #expect(try VolumeInput.tag("project:nlp") == ("project", "nlp"))
            #expect(try VolumeInput.tag("empty:") == ("empty", ""))
            #expect(try VolumeInput.tag("a:b:c") == ("a", "b:c"))
            #expect(try VolumeInput.tag("url:https://x.org") == ("url", "https://x.org"))
        }

        @Test("tags: no colon, an empty key, AWS's and Portal Gun's own keys are refused")
        func badTags() {
            #expect(message { try VolumeInput.tag("project") } == "invalid tag 'project': expected key:value")
            #expect(message { try VolumeInput.tag(":v") } == "invalid tag ':v': the key is empty")
            #expect(message { try VolumeInput.tag("created-by:me") }
                    == "invalid tag 'created-by:me': Portal Gun writes 'created-by' itself")
            #expect(message { try VolumeInput.tag("portal-name:gpu") }
                    == "invalid tag 'portal-name:gpu': Portal Gun writes 'portal-name' itself")
            #expect(message { try VolumeInput.tag(String(repeating: "k", count: 129) + ":v") }?
                        .hasSuffix("the key is longer than 128 characters") == true)
        }

        @Test("-t Name:x stands for -n x; the two may not disagree; a key may not come twice")
        func nameAndTags() throws {
            let (name, tags) = try VolumeInput.tags(["Name:data", "a:1"], name: nil)
            #expect(name == "data")
            #expect(tags.elementsEqual([("a", "1")], by: ==))
            #expect(try VolumeInput.tags(["Name:data"], name: "data").name == "data")
            #expect(message { try VolumeInput.tags(["Name:x"], name: "data") }
                    == "conflicting names: -n 'data' and -t 'Name:x'; give one")
            #expect(message { try VolumeInput.tags(["a:1", "a:2"], name: nil) } == "tag 'a' given twice: 'a:1' and 'a:2'")
        }

        @Test("sizes: whole GiB from 1 to 16384, within the type's range")
        func sizes() throws {
            #expect(try VolumeInput.size("1") == 1)
            #expect(try VolumeInput.size("16384") == 16384)
            #expect(try VolumeInput.size("100GiB") == 100)
            let expected = "expected a whole number of GiB from 1 to 16384"
            #expect(message { try VolumeInput.size("0") } == "invalid size '0': \(expected)")
            #expect(message { try VolumeInput.size("16385") } == "invalid size '16385': \(expected)")
            #expect(message { try VolumeInput.size("-5") } == "invalid size '-5': \(expected)")
            #expect(message { try VolumeInput.size("1.5") } == "invalid size '1.5': \(expected)")
            #expect(message { try VolumeInput.size("lots") } == "invalid size 'lots': \(expected)")
            #expect(message { try VolumeInput.size("") } == "invalid size '': \(expected)")
            #expect(message { try VolumeInput.size("50", type: .st1) }
                    == "invalid size '50' for a volume of type st1: expected 125 to 16384 GiB")
            #expect(message { try VolumeInput.size("2000", type: .standard) }
                    == "invalid size '2000' for a volume of type standard: expected 1 to 1024 GiB")
            #expect(VolumeType.gp3.defaultSizeGiB == 50 && VolumeType.sc1.defaultSizeGiB == 125)
        }

        @Test("types: gp2, gp3, io1, io2, st1, sc1, standard; IOPS where the type takes them")
        func types() throws {
            #expect(try VolumeInput.type("io2") == .io2)
            #expect(message { try VolumeInput.type("gp4") }
                    == "invalid volume type 'gp4': expected one of gp2, gp3, io1, io2, st1, sc1, standard")
            #expect(try VolumeInput.iops(nil, type: .gp3) == nil)
            #expect(try VolumeInput.iops(4000, type: .gp3) == 4000)
            #expect(message { try VolumeInput.iops(nil, type: .io1) } == "missing IOPS: a volume of type io1 needs --iops")
            #expect(message { try VolumeInput.iops(500, type: .st1) }
                    == "invalid option --iops for a volume of type st1: only gp3, io1 and io2 take it")
        }

        @Test("volume and snapshot ids: the prefix and 8 to 17 hex digits")
        func ids() throws {
            #expect(try VolumeInput.volumeID("vol-0123456789abcdef0") == "vol-0123456789abcdef0")
            #expect(try VolumeInput.volumeID("vol-1234abcd") == "vol-1234abcd")
            #expect(message { try VolumeInput.volumeID("data") }
                    == "invalid volume id 'data': expected vol- and 8 to 17 hex digits, such as vol-0123456789abcdef0")
            #expect(message { try VolumeInput.volumeID("vol-xyz12345") } != nil)
            #expect(try VolumeInput.snapshotID("snap-0123456789abcdef0") == "snap-0123456789abcdef0")
            #expect(message { try VolumeInput.snapshotID("vol-0123456789abcdef0") } != nil)
        }
    }

    @Suite struct Operations {
        @Test("CreateVolume's parameters: zone, type, size, token, then the tags Name, created-by, dimension and the others")
        func createParameters() {
            let request = VolumeRequest(name: "data", sizeGiB: 50, zone: "us-east-1a", tags: [("project", "nlp")])
            let parameters = request.parameters(createdBy: "arn:me", clientToken: "t")
            #expect(parameters == QueryParameters([
                ("AvailabilityZone", "us-east-1a"), ("VolumeType", "gp3"), ("Size", "50"), ("ClientToken", "t"),
                ("TagSpecification.1.ResourceType", "volume"),
                ("TagSpecification.1.Tag.1.Key", "Name"), ("TagSpecification.1.Tag.1.Value", "data"),
                ("TagSpecification.1.Tag.2.Key", "created-by"), ("TagSpecification.1.Tag.2.Value", "arn:me"),
                ("TagSpecification.1.Tag.3.Key", "dimension"), ("TagSpecification.1.Tag.3.Value", "C-137"),
                ("TagSpecification.1.Tag.4.Key", "project"), ("TagSpecification.1.Tag.4.Value", "nlp"),
            ]))
            let fromSnapshot = VolumeRequest(sizeGiB: nil, zone: "z", type: .io2, iops: 1000, snapshotID: "snap-12345678")
                .parameters(createdBy: "arn:me", clientToken: "t")
            #expect(fromSnapshot["Size"] == nil && fromSnapshot["Iops"] == "1000" && fromSnapshot["SnapshotId"] == "snap-12345678")
            #expect(fromSnapshot["TagSpecification.1.Tag.1.Key"] == "created-by")
        }

        @Test("a volume cannot shrink: the message names the current size, exit 65; the same size changes nothing")
        func shrink() throws {
            let volume = Volume(id: "vol-0123456789abcdef0", sizeGiB: 100, zone: "z")
            do {
                _ = try VolumeChange(sizeGiB: 50).checkSize(against: volume)
                Issue.record("a shrink was accepted")
            } catch let failure as Failure {
                #expect(failure.message
                        == "cannot shrink 'vol-0123456789abcdef0' from 100 GiB to 50 GiB: an EBS volume can only grow")
                #expect(failure.exitStatus == .dataError)
            }
            #expect(try VolumeChange(sizeGiB: 100).checkSize(against: volume) == false)
            #expect(try VolumeChange(sizeGiB: 200).checkSize(against: volume) == true)
            #expect(try VolumeChange(name: "x").checkSize(against: volume) == false)
            var standard = volume
            standard.type = "standard"
            #expect(throws: Failure.self) { try VolumeChange(sizeGiB: 2000).checkSize(against: standard) }
        }

        @Test("a volume in use is refused with the instance and the portal that hold it")
        func inUse() throws {
            let volume = try Volume(json: JSON(parsing: Array(attachedVolumeJSON.utf8)))
            #expect(Volumes.inUse(volume).message == "'vol-a7968977224810813' is in use: attached to i-082947029bccdad4c "
                    + "(portal 'gpu'); close the portal first: portal close gpu")
            var foreign = volume
            foreign.tags[Tag.portalName] = nil
            #expect(Volumes.inUse(foreign).message
                    == "'vol-a7968977224810813' is in use: attached to i-082947029bccdad4c; detach it first")
        }

        @Test("waiting for a new volume: polls with growing delays until available; error and timeout end it")
        func waiting() throws {
            let creating = Volume(id: "vol-0123456789abcdef0", sizeGiB: 1, zone: "z", state: "creating")
            var states = ["creating", "creating", "available"]
            var slept: [TimeInterval] = []
            let ready = try Volumes.waitUntilAvailable(creating, timeout: 60, describe: {
                var v = creating
                v.state = states.removeFirst()
                return v
            }, sleep: { slept.append($0) })
            #expect(ready.state == "available")
            #expect(slept == [0.25, 0.5, 1])

            #expect(throws: Failure.self) {
                try Volumes.waitUntilAvailable(creating, timeout: 60, describe: {
                    var v = creating
                    v.state = "error"
                    return v
                }, sleep: { _ in })
            }
            var clock = Date(timeIntervalSince1970: 0)
            do {
                _ = try Volumes.waitUntilAvailable(creating, timeout: 10, describe: { creating },
                                                   sleep: { clock += $0 }, now: { clock })
                Issue.record("no timeout")
            } catch let failure as Failure {
                #expect(failure.exitStatus == .temporary)
                #expect(failure.message == "'vol-0123456789abcdef0' is still 'creating' after 10 s")
            }
        }
    }
}
