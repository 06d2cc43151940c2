import Foundation
import PortalBase
import Testing

@testable import PortalSSH
import PortalModel

/// A portal document as the stages before portal-mount leave it.
func sampleDocument(ssh: JSON = ["address": "public_dns", "port": 22], instance: JSON? = nil,
                    attachments: JSON? = nil, spotInstanceExtras: [(String, JSON)] = []) throws -> PortalDocument {
    var spotInstance: JSONObject = JSONObject([
        ("instance_type", "t3.medium"), ("image_id", "ami-0abc"), ("key_pair_name", "portal"),
        ("identity_file", "/home/me/.ssh/portal"), ("security_group_id", "sg-1"),
        ("availability_zone", "us-east-1a"), ("remote_user", "ubuntu"), ("remote_group", "staff"),
    ])
    for (key, value) in spotInstanceExtras { spotInstance[key] = value }
    var object = JSONObject([
        ("name", "gpu"),
        ("spec", [
            "spot_instance": .object(spotInstance),
            "persistent_volumes": [
                ["volume_id": "vol-0123456789abcdef0", "device": "/dev/xvdf", "mount_point": "/home/ubuntu/data"],
            ],
            "ssh": ssh,
        ]),
    ])
    if let instance { object["instance"] = instance }
    if let attachments { object["attachments"] = attachments }
    return try PortalDocument(json: .object(object), checkFiles: false)
}

let sampleInstance: JSON = [
    "id": "i-0123456789abcdef0", "type": "t3.medium", "state": "running",
    "public_ip": "54.1.2.3", "private_ip": "10.0.0.7",
    "public_dns": "ec2-54-1-2-3.compute-1.amazonaws.com", "private_dns": "ip-10-0-0-7.ec2.internal",
]

struct SSHTargetTests {
    @Test("portal ssh takes the portal and the tmux session in either order Portal Gun 0.x took them")
    func tmuxSessionOrder() {
        let after = portalAndTmuxSession(("gpu", "train"), arguments: ["portal", "ssh", "gpu", "-t", "train"])
        #expect(after.name == "gpu" && after.session == "train")
        let before = portalAndTmuxSession(("train", "gpu"), arguments: ["portal", "ssh", "--tmux", "train", "gpu"])
        #expect(before.name == "gpu" && before.session == "train")
        let alone = portalAndTmuxSession(("gpu", nil), arguments: ["portal", "ssh", "-t", "gpu"])
        #expect(alone.name == "gpu" && alone.session == nil)
    }

    @Test("the address: public DNS by default, the public IP when there is no DNS name, or the private IP on request")
    func addressChoice() throws {
        #expect(try SSHTarget.address(of: Instance(document: sampleInstance), choice: .publicDNS) == "ec2-54-1-2-3.compute-1.amazonaws.com")
        var noDNS = sampleInstance
        noDNS["public_dns"] = ""
        #expect(try SSHTarget.address(of: Instance(document: noDNS), choice: .publicDNS) == "54.1.2.3")
        noDNS["public_dns"] = nil
        #expect(try SSHTarget.address(of: Instance(document: noDNS), choice: .publicDNS) == "54.1.2.3")
        #expect(try SSHTarget.address(of: Instance(document: sampleInstance), choice: .publicIP) == "54.1.2.3")
        #expect(try SSHTarget.address(of: Instance(document: sampleInstance), choice: .privateIP) == "10.0.0.7")
    }

    @Test("an instance without the address asked for is refused, naming it and the way out")
    func noAddress() {
        let privateOnly: JSON = ["id": "i-9", "private_ip": "10.0.0.7", "public_ip": "", "public_dns": ""]
        do {
            _ = try SSHTarget.address(of: Instance(document: privateOnly), choice: .publicDNS)
            Issue.record("no error")
        } catch let failure as Failure {
            #expect(failure.message.contains("i-9 has no public DNS name nor public IP address"))
            #expect(failure.hints.joined().contains("private_ip"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("a document's target: spec user, key and port; instance address; host key alias the instance id")
    func fromDocument() throws {
        let target = try SSHTarget(document: sampleDocument(ssh: ["address": "public_ip", "port": 2222], instance: sampleInstance))
        #expect(target == SSHTarget(host: "54.1.2.3", port: 2222, user: "ubuntu", identityFile: "/home/me/.ssh/portal",
                                    hostKeyAlias: "i-0123456789abcdef0"))
    }

    @Test("an explicit ssh.host wins over the instance's addresses (the local cloud, a tunnel)")
    func explicitHost() throws {
        let target = try SSHTarget(document: sampleDocument(ssh: ["host": "127.0.0.1", "port": 40022], instance: sampleInstance))
        #expect(target.host == "127.0.0.1" && target.port == 40022 && target.hostKeyAlias == "i-0123456789abcdef0")
        // No "instance": the attachments name it.
        let attached = try SSHTarget(document: sampleDocument(ssh: ["host": "127.0.0.1", "port": 40022],
                                                              attachments: [["volume_id": "vol-1", "instance_id": "i-77"]]))
        #expect(attached.hostKeyAlias == "i-77")
    }

    @Test("no instance and no ssh.host: bad input, exit 65")
    func noInstance() throws {
        let document = try sampleDocument()
        #expect(throws: Failure.self) { try SSHTarget(document: document) }
        do { _ = try SSHTarget(document: document) } catch let failure as Failure { #expect(failure.exitStatus == .dataError) }
    }

    @Test("ssh's arguments: the portal's key, port, Portal Gun's known_hosts with strict checking and the instance id as alias")
    func sshArgumentsPlain() throws {
        let document = try sampleDocument(instance: sampleInstance)
        let arguments = try sshArguments(document: document, knownHosts: KnownHosts(path: "/k/known hosts"))
        #expect(arguments == [
            "-i", "/home/me/.ssh/portal", "-p", "22",
            "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=/k/known hosts", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias=i-0123456789abcdef0", "-o", "CheckHostIP=no",
            "-o", "UpdateHostKeys=no", "-o", "ServerAliveInterval=30",
            "ubuntu@ec2-54-1-2-3.compute-1.amazonaws.com",
        ])
    }

    @Test("a command of several words is run exactly; one word is a command line; -t runs tmux new -A -s SESSION")
    func sshArgumentsCommands() throws {
        let target = SSHTarget(host: "h", port: 22, user: "u", identityFile: "/k", hostKeyAlias: "i-1")
        let kh = KnownHosts(path: "/kh")
        #expect(sshArguments(target: target, knownHosts: kh, command: ["sh", "-c", "exit 7"]).suffix(2) == ["--", "sh -c 'exit 7'"])
        #expect(sshArguments(target: target, knownHosts: kh, command: ["ls | wc -l"]).suffix(2) == ["--", "ls | wc -l"])
        let tmux = sshArguments(target: target, knownHosts: kh, tmux: "portal")
        #expect(tmux.first == "-t")
        #expect(tmux.suffix(2) == ["--", "tmux new -A -s portal"])
        let tmuxCommand = sshArguments(target: target, knownHosts: kh, tmux: "my work", command: ["htop"])
        #expect(tmuxCommand.last == "tmux new -A -s 'my work' htop")
        #expect(sshCommandLine(target: target, knownHosts: kh).hasPrefix("ssh -i /k -p 22 -o IdentitiesOnly=yes"))
    }

    @Test("an instance id or address from a document that is not one is refused (65) before it reaches known_hosts or ssh")
    func hostileDocumentValues() throws {
        for instance: JSON in [
            ["id": "i-0abc\n@cert-authority * ssh-ed25519 AAAA", "public_ip": "54.1.2.3"],
            ["id": "i-0abc,*", "public_ip": "54.1.2.3"],
            ["id": "i-0123456789abcdef0", "public_dns": "-oProxyCommand=touch /tmp/x"],
            ["id": "i-0123456789abcdef0", "public_ip": "54.1.2.3 evil"],
        ] {
            let document = try sampleDocument(instance: instance)
            let error = #expect(throws: Failure.self, "\(instance.serialized())") { try SSHTarget(document: document) }
            #expect(error?.exitStatus == .dataError)
        }
        #expect(try SSHTarget(document: try sampleDocument(instance: sampleInstance)).hostKeyAlias == "i-0123456789abcdef0")
    }
}
