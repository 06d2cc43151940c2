import Foundation
import PortalBase
import PortalModel
import Testing
@testable import PorcelainCommands

@Suite("what portal open says when done")
struct OpenSummaryTests {
    func document() throws -> PortalDocument {
        let spec = """
            {"spot_instance": {"instance_type": "t3.medium", "image_id": "ami-0123456789abcdef0",
              "key_pair_name": "portal", "identity_file": "/home/me/.ssh/portal", "security_group_id": "sg-0123",
              "availability_zone": "us-east-1a", "remote_user": "ubuntu"},
             "persistent_volumes": [
               {"volume_id": "vol-0aaa", "device": "/dev/xvdf", "mount_point": "/home/ubuntu/data"},
               {"volume_id": "vol-0bbb", "device": "/dev/xvdg", "mount_point": "/home/ubuntu/cache"}]}
            """
        var document = try PortalDocument.fromSpec(text: Array(spec.utf8), file: "gpu.json", name: "gpu",
                                                   directory: "/tmp", checkFiles: false).document
        document.instance = try Instance(document: [
            "id": "i-0123456789abcdef0", "type": "t3.medium", "zone": "us-east-1a", "state": "running",
            "public_dns": "ec2-54-1-2-3.compute-1.amazonaws.com", "public_ip": "54.1.2.3",
        ])
        return document
    }

    @Test("each volume: mounted (formatted when it was blank) where the mount says, or only attached")
    func volumes() throws {
        var document = try document()
        document.mounts = [MountResult(volumeID: "vol-0bbb", device: "/dev/nvme2n1", foundBy: "nvme-by-id-serial",
                                       mountPoint: "/home/ubuntu/cache", formatted: true, filesystem: "ext4",
                                       sizeBytes: 1, filesystemBytes: 1, grown: false, alreadyMounted: false)]
        let lines = OpenCommand.summary(document, instance: try document.requireInstance(),
                                        stages: [("launch", 12.34), ("attach", 2.05)], total: 15.0)
        #expect(Array(lines.prefix(5)) == [
            "",
            "portal 'gpu' is open: i-0123456789abcdef0, t3.medium in us-east-1a",
            "  vol-0aaa  /dev/xvdf -> /home/ubuntu/data  (attached)",
            "  vol-0bbb  /dev/xvdg -> /home/ubuntu/cache  (formatted, mounted)",
            "  time: launch 12.3 s, attach 2.0 s; 15.0 s in all",
        ])
        #expect(lines[5] == "connect with: portal ssh gpu")
        #expect(lines[6].hasPrefix("          or: ssh -i /home/me/.ssh/portal -p 22 "))
        #expect(lines[6].contains("HostKeyAlias=i-0123456789abcdef0") && lines[6].hasSuffix("ubuntu@ec2-54-1-2-3.compute-1.amazonaws.com"))
        #expect(lines.last == "close with:   portal close gpu")
    }

    @Test("the summary reads the document's typed members, not JSON: what portal open --json prints is the same document")
    func sameDocument() throws {
        var document = try document()
        document.attachments = [Attachment(volumeID: "vol-0aaa", instanceID: "i-0123456789abcdef0", device: "/dev/xvdf",
                                           mountPoint: "/home/ubuntu/data", state: "attached")]
        let json = document.json
        #expect(json.objectValue?.keys == ["name", "spec", "instance", "attachments"])
        let read = try PortalDocument(json: json, checkFiles: false)
        #expect(read == document)
        #expect(read.attachments == document.attachments && read.instance == document.instance)
        #expect(read.json == json)
    }
}
