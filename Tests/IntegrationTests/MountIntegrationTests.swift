import Foundation
import PortalBase
import Testing

/// portal-mount and `portal ssh` against the local cloud: moto as EC2, a machine
/// of its own per instance (bin/local-cloud up --machines), loop devices as
/// volumes. A test looks at the machine's mounts and files from the host,
/// through /proc/<its PID 1>/root.
@Suite(.enabled(if: LocalCloud.available && LocalVolumes.available && LocalCloud.machines))
struct MountIntegrationTests {
    @Test("the first mount formats a blank volume and mounts it; a file written there survives detach and reattach, and the second mount does not format again")
    func formatOnceKeepData() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume)
        let mountPoint = fixture.folder + "/data"
        let marker = "/home/ubuntu/setup-ran-\(fixture.name)"
        let document = try fixture.document(volumes: [(volume, "/dev/xvdf", mountPoint)],
                                            setupCommands: ["touch \(marker) && sudo touch /etc/\(fixture.name)"])

        let first = try fixture.mount(document)
        #expect(first.status == 0, "\(first.stderr)")
        let mount = try #require(first.json?["mounts"]?[0])
        #expect(mount["volume_id"] == .string(volume))
        #expect(mount["formatted"] == true)
        #expect(mount["filesystem"] == "ext4")
        #expect(mount["size_bytes"] == .int(1 << 30))
        #expect(mount["mount_point"] == .string(mountPoint))
        #expect(fixture.machine.isMounted(mountPoint))
        #expect(first.json?["provisioned"]?["setup_commands"] == 1)
        #expect(fixture.machine.exists(marker) && fixture.machine.exists("/etc/\(fixture.name)"))
        // what the setup commands wrote (sudo included) is on the instance only
        #expect(!FileManager.default.fileExists(atPath: marker) && !FileManager.default.fileExists(atPath: "/etc/\(fixture.name)"))
        try fixture.machine.write(mountPoint + "/notes.txt", "kept across opens\n")

        try fixture.detach(volume)
        #expect(!fixture.machine.isMounted(mountPoint))
        try fixture.attach(volume)
        let second = try fixture.mount(document)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.json?["mounts"]?[0]?["formatted"] == false)
        #expect(second.json?["mounts"]?[0]?["already_mounted"] == false)
        #expect(try fixture.machine.read(mountPoint + "/notes.txt") == "kept across opens\n")

        let third = try fixture.mount(document, arguments: ["--no-provision"])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.json?["mounts"]?[0]?["already_mounted"] == true)
        #expect(third.json?["mounts"]?[0]?["formatted"] == false)
        #expect(third.json?["provisioned"] == nil)
    }

    @Test("a volume that already holds a file system is never formatted: its label is still there")
    func existingFileSystemKept() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume)
        let device = try fixture.waitForDevice(volume)
        let mkfs = try run("/sbin/mkfs.ext4", ["-q", "-L", "pg-keep-me", device])
        try #require(mkfs.status == 0, "\(mkfs.stderr)")

        let result = try fixture.mount(try fixture.document(volumes: [(volume, "/dev/xvdf", fixture.folder + "/kept")]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["mounts"]?[0]?["formatted"] == false)
        #expect(result.json?["mounts"]?[0]?["filesystem"] == "ext4")
        #expect(try run("/sbin/blkid", ["-s", "LABEL", "-o", "value", device]).stdout == "pg-keep-me\n")
    }

    @Test("two portal-mounts of the same blank volume at once: one formats it, the other finds it mounted")
    func concurrentMounts() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume)
        let document = try fixture.document(volumes: [(volume, "/dev/xvdf", fixture.folder + "/both")])
        _ = try fixture.waitForDevice(volume)
        let results = ResultsBox()
        let environment = ["PORTAL_KNOWN_HOSTS": fixture.knownHosts, "SSH_AUTH_SOCK": ""]
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            results.append(try? run("portal-mount", ["--no-provision"], stdin: document, environment: environment))
        }
        let runs = results.values.compactMap { $0 }
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        let formatted = runs.compactMap { $0.json?["mounts"]?[0]?["formatted"] }
        #expect(formatted.filter { $0 == true }.count == 1)
        #expect(formatted.filter { $0 == false }.count == 1)
    }

    @Test("a volume that holds something other than a file system (a partition table) is neither formatted nor mounted")
    func partitionTableRefused() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume)
        let device = try fixture.waitForDevice(volume)
        try LocalVolumes.writeMBR(to: device)
        try #require(try run("/sbin/blkid", ["-p", "-s", "PTTYPE", "-o", "value", device]).stdout == "dos\n")
        let mountPoint = fixture.folder + "/never"
        let result = try fixture.mount(try fixture.document(volumes: [(volume, "/dev/xvdf", mountPoint)]))
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("holds a partition table (dos), not a file system"))
        #expect(!fixture.machine.isMounted(mountPoint))
        #expect(try run("/sbin/blkid", ["-p", "-s", "PTTYPE", "-o", "value", device]).stdout == "dos\n")
    }

    @Test("the device is found through the NVMe by-id link of the volume id, whatever name was requested")
    func foundThroughNVMePath() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume, device: "/dev/sdq")
        let result = try fixture.mount(try fixture.document(volumes: [(volume, "/dev/sdq", fixture.folder + "/nvme")]))
        #expect(result.status == 0, "\(result.stderr)")
        let mount = try #require(result.json?["mounts"]?[0])
        // A loop device has no NVMe serial to confirm it with: the link alone.
        #expect(mount["found_by"] == "nvme-by-id")
        _ = try fixture.waitForDevice(volume)
        #expect(mount["device"] == Machine.device(of: volume).map(JSON.string))
        #expect(mount["device"] == "/dev/nvme1n1")
    }

    @Test("two volumes, one inside the other: one SSH connection, one round trip per volume, the outer one mounted first")
    func oneConnectionOneRoundTripPerVolume() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let outer = try fixture.createVolume(), inner = try fixture.createVolume()
        try fixture.attach(outer, device: "/dev/xvdf")
        try fixture.attach(inner, device: "/dev/xvdg")
        let document = try fixture.document(volumes: [(inner, "/dev/xvdg", fixture.folder + "/a/b"),
                                                      (outer, "/dev/xvdf", fixture.folder + "/a")])
        let result = try fixture.mount(document, arguments: ["-v", "--no-provision"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("1 connection (1 attempt), 2 round trips"))
        #expect(result.json?["mounts"]?.arrayValue?.map { $0["volume_id"] } == [.string(inner), .string(outer)])
        #expect(fixture.machine.isMounted(fixture.folder + "/a") && fixture.machine.isMounted(fixture.folder + "/a/b"))
    }

    @Test("a mount point with spaces, quotes and $(…) is used literally, and nothing in it runs")
    func mountPointTakenLiterally() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume)
        let mountPoint = fixture.folder + #"/x/it's a "dir" $(touch pwned) `touch pwned2`; touch pwned3"#
        let traps = ["/home/ubuntu/pwned", "/home/ubuntu/pwned2", "/home/ubuntu/pwned3", "/root/pwned", "/pwned",
                     fixture.folder + "/x/pwned"]

        let result = try fixture.mount(try fixture.document(volumes: [(volume, "/dev/xvdf", mountPoint)]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["mounts"]?[0]?["mount_point"] == .string(mountPoint))
        #expect(fixture.machine.isMounted(mountPoint))
        #expect(traps.filter { fixture.machine.exists($0) } == [])
    }

    @Test("a volume grown while detached (ModifyVolume) is grown to its new size on the next mount, data intact")
    func grownVolume() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let volume = try fixture.createVolume()
        try fixture.attach(volume)
        let mountPoint = fixture.folder + "/grow"
        let document = try fixture.document(volumes: [(volume, "/dev/xvdf", mountPoint)])
        let first = try fixture.mount(document)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.json?["mounts"]?[0]?["grown"] == false)
        try fixture.machine.write(mountPoint + "/data.txt", "before growing\n")
        try fixture.detach(volume)

        try EC2.call("ModifyVolume", ["VolumeId": .string(volume), "Size": 2])
        try fixture.attach(volume)
        let second = try fixture.mount(document)
        #expect(second.status == 0, "\(second.stderr)")
        let mount = try #require(second.json?["mounts"]?[0])
        #expect(mount["grown"] == true)
        #expect(mount["formatted"] == false)
        #expect(mount["size_bytes"] == .int(2 << 30))
        #expect(mount["filesystem_bytes"] == .int(2 << 30))
        #expect(try fixture.machine.read(mountPoint + "/data.txt") == "before growing\n")
    }

    @Test("a setup command that fails is named with its exit status; the output of each is streamed to stderr")
    func setupCommandFails() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let document = try fixture.document(volumes: [], setupCommands: ["echo marker-from-setup", "sh -c 'exit 4'", "touch never"])
        let result = try fixture.mount(document)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("marker-from-setup"))
        #expect(result.stderr.contains("setup command 2 of 3: sh -c 'exit 4': failed with exit status 4"))
    }
}

/// Host keys and keys: no volumes needed.
@Suite(.enabled(if: LocalCloud.available && LocalCloud.machines))
struct MountSSHIntegrationTests {
    @Test("a host key other than the one recorded for the instance is refused: exit 77, both fingerprints shown, nothing mounted")
    func wrongHostKeyRefused() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let cloud = LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] ?? ""
        let impostor = try String(contentsOfFile: cloud + "/id_ed25519.pub", encoding: .utf8)
        try "\(fixture.instanceID) \(impostor)".write(toFile: fixture.knownHosts, atomically: true, encoding: .utf8)
        let document = try fixture.document(volumes: [("vol-00000000000000001", "/dev/xvdf", fixture.folder + "/no")])
        let result = try fixture.mount(document)
        #expect(result.status == 77)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("is not the one recorded"))
        #expect(result.stderr.contains(try LocalVolumes.fingerprint(cloud + "/id_ed25519.pub")))
        let presented = try fixture.machine.hostKeys.map { key in
            let file = fixture.folder + "/host_key.pub"
            try key.write(toFile: file, atomically: true, encoding: .utf8)
            return try LocalVolumes.fingerprint(file)
        }
        #expect(presented.contains { result.stderr.contains($0) }, "\(presented)")
        #expect(!LocalVolumes.isMounted(fixture.folder + "/no"))
    }

    @Test("first contact is checked against the console's fingerprints, said on stderr, and recorded by instance id")
    func trustOnFirstUse() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let result = try fixture.mount(try fixture.document(volumes: [], setupCommands: ["true"]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains(LocalCloud.firstContact(fixture.instanceID)), "\(result.stderr)")
        let recorded = try String(contentsOfFile: fixture.knownHosts, encoding: .utf8)
        #expect(recorded.hasPrefix(fixture.instanceID + " ssh-ed25519 "))
        // OpenSSH finds it under the instance id.
        #expect(try run("/usr/bin/ssh-keygen", ["-F", fixture.instanceID, "-f", fixture.knownHosts]).status == 0)
    }

    @Test("an RSA key gets the documented error: libssh2 1.10, rsa-sha2, and how to make and import an ed25519 key; exit 77")
    func rsaKeyExplained() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let cloud = LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] ?? ""
        let document = try fixture.document(volumes: [], setupCommands: ["true"], identityFile: cloud + "/id_rsa")
        let result = try fixture.mount(document)
        #expect(result.status == 77)
        for needle in ["is an RSA key", "libssh2 1.10", "rsa-sha2", "ssh-keygen -t ed25519 -f ~/.ssh/portal",
                       "aws ec2 import-key-pair --key-name portal --public-key-material fileb://~/.ssh/portal.pub"] {
            #expect(result.stderr.contains(needle), "\(needle)")
        }
    }

    /// The one spec here with an "ssh" section: its port is the documented way to reach
    /// sshd elsewhere, and here it points at a loopback port known to be closed. No
    /// address of the twin is surely closed on port 22 (a machine's sshd answers there,
    /// and this host's own sshd may listen on 127.0.0.1:22).
    @Test("sshd not there: portal-mount waits up to --ssh-timeout, saying so, then exit 69")
    func sshdUnreachable() throws {
        let fixture = try MountFixture(instance: false)
        defer { fixture.cleanup() }
        let document = try fixture.document(volumes: [], setupCommands: ["true"], port: try freePort())
        let result = try fixture.mount(document, arguments: ["--ssh-timeout", "2"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("waiting for sshd on 127.0.0.1:"))
        #expect(result.stderr.contains("cannot reach sshd"))
    }

    @Test("portal ssh NAME -- sh -c 'exit 7' runs the command through OpenSSH and returns its exit status",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh")))
    func portalSSHExitStatus() throws {
        let p = try TestPortal(volumes: 0)
        #expect(try p.portal(["open", p.name, "--no-mount", "-q"]).status == 0)
        defer { _ = try? p.portal(["close", p.name, "-q"]) }
        let id = try #require(try p.liveInstances().first)
        let environment = ["PORTAL_KNOWN_HOSTS": p.folder.appendingPathComponent("known_hosts").path, "SSH_AUTH_SOCK": ""]
        let result = try p.portal(["ssh", p.name, "--", "sh", "-c", "echo \"$0\"; exit 7", "two words"],
                                  environment: environment)
        #expect(result.status == 7, "\(result.stderr)")
        #expect(result.stdout == "two words\n")
        #expect(result.stderr.contains(LocalCloud.firstContact(id)), "\(result.stderr)")
        let again = try p.portal(["ssh", p.name, "--", "true && exit 3"], environment: environment)
        #expect(again.status == 3, "\(again.stderr)")
    }

    @Test("a device that never appears is given up after --device-timeout: exit 75, naming what was looked for")
    func deviceNeverAppears() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        let document = try fixture.document(volumes: [("vol-0aaaaaaaaaaaaaaa1", "/dev/xvdz", fixture.folder + "/none")])
        let result = try fixture.mount(document, arguments: ["--device-timeout", "1", "--no-provision"])
        #expect(result.status == 75)
        #expect(result.stderr.contains("no device for vol-0aaaaaaaaaaaaaaa1 after 1 s"))
        #expect(result.stderr.contains("nvme-Amazon_Elastic_Block_Store_vol0aaaaaaaaaaaaaaa1"))
        #expect(result.stderr.contains("/dev/xvdz or /dev/sdz"))
    }

    @Test("portal ssh NAME -t work hands ssh a terminal and tmux new -A -s work, with the portal's key, port and host key alias")
    func portalSSHTmuxArguments() throws {
        let p = try TestPortal(volumes: 0)
        #expect(try p.portal(["open", p.name, "--no-mount", "-q"]).status == 0)
        defer { _ = try? p.portal(["close", p.name, "-q"]) }
        let id = try #require(try p.liveInstances().first)
        let knownHosts = p.folder.appendingPathComponent("known_hosts").path
        // An ssh of the test's own, first on PATH, that prints what it was given.
        let bin = p.folder.appendingPathComponent("bin").path
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\nprintf '%s\\n' \"$@\"\n".write(toFile: bin + "/ssh", atomically: true, encoding: .utf8)
        chmod(bin + "/ssh", 0o755)
        let result = try p.portal(["ssh", p.name, "-t", "work"], environment: [
            "PORTAL_KNOWN_HOSTS": knownHosts, "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let arguments = result.stdout.split(separator: "\n").map(String.init)
        let env = LocalCloud.environment
        let machine = try Machine.ready(id)
        #expect(arguments.first == "-t")
        #expect(arguments.contains(env["PORTAL_LOCAL_SSH_KEY"] ?? "?"))
        #expect(arguments.contains("22"))
        #expect(arguments.contains("HostKeyAlias=\(id)"))
        #expect(arguments.contains("UserKnownHostsFile=\(knownHosts)"))
        #expect(arguments.contains("StrictHostKeyChecking=yes"))
        #expect(arguments.suffix(3) == ["ubuntu@\(machine.address)", "--", "tmux new -A -s work"])
    }

    @Test("portal ssh on a portal that is not open says so and how to open it")
    func portalSSHNotOpen() throws {
        let p = try TestPortal(volumes: 0)
        let result = try p.portal(["ssh", p.name])
        #expect(result.status == 1)
        #expect(result.stderr.contains("portal '\(p.name)' is not open"))
        #expect(result.stderr.contains("portal open \(p.name)"))
    }
}

// MARK: - Helpers

/// One signed EC2 call through the built portal-ec2.
enum EC2 {
    @discardableResult
    static func call(_ action: String, _ parameters: JSON = [:]) throws -> JSON {
        var object = parameters.objectValue ?? JSONObject()
        object["Action"] = .string(action)
        let result = try run("portal-ec2", stdin: JSON.object(object).serialized())
        guard result.status == 0, let json = result.json else {
            throw Failure("portal-ec2 \(action): exit \(result.status): \(result.stderr)")
        }
        return json
    }

    /// An image moto knows, found with a filter (never the whole list).
    static let imageID: Result<String, Error> = Result(catching: {
        let images = try call("DescribeImages", ["Filters": [["Name": "name", "Values": ["ubuntu/images/*"]]]])
        guard let id = images["imagesSet"]?[0]?["imageId"]?.stringValue else { throw Failure("moto has no ubuntu image") }
        return id
    })
}

enum LocalVolumes {
    static var available: Bool { LocalCloud.environment["PORTAL_LOCAL_VOLUMES"] == "1" }

    static func link(_ volume: String) -> String {
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + volume.replacingOccurrences(of: "-", with: "")
    }

    /// Whether something is mounted exactly there (mountinfo's octal escapes decoded).
    static func isMounted(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && unescape(String(fields[4])) == path
        }
    }

    static func mounts(under folder: String) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescape(String(fields[4]))
            return point.hasPrefix(folder + "/") ? point : nil
        }
    }

    static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func home(of user: String) -> String {
        guard let entry = getpwnam(user), let dir = entry.pointee.pw_dir else { return "/root" }
        return String(cString: dir)
    }

    /// Writes a DOS partition table with one Linux partition (from sector 2048 on) to a device.
    static func writeMBR(to device: String) throws {
        var sector = [UInt8](repeating: 0, count: 512)
        sector[446 + 4] = 0x83
        for (offset, value) in [(8, UInt32(2048)), (12, UInt32(4096))] {
            for byte in 0..<4 { sector[446 + offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
        }
        sector[510] = 0x55
        sector[511] = 0xAA
        guard let handle = FileHandle(forWritingAtPath: device) else { throw Failure("cannot write to \(device)") }
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(sector))
        try handle.synchronize()
    }

    /// `SHA256:…` of a public key file, as ssh-keygen prints it.
    static func fingerprint(_ publicKeyFile: String) throws -> String {
        let result = try run("/usr/bin/ssh-keygen", ["-l", "-f", publicKeyFile])
        guard let print = result.stdout.split(separator: " ").dropFirst().first else {
            throw Failure("ssh-keygen -l \(publicKeyFile): \(result.stderr)")
        }
        return String(print)
    }
}

/// One test's world: a temporary folder (specs, known_hosts, mount points), an
/// instance in moto, volumes. `cleanup()` undoes all of it, whatever failed.
final class MountFixture {
    let name: String
    let folder: String
    let knownHosts: String
    let instanceID: String
    /// The instance's machine (a made-up one, at 127.0.0.1, without an instance).
    let machine: Machine
    private let ownsInstance: Bool
    private var volumes: [String] = []
    private var attached: Set<String> = []

    /// - Parameter instance: run an instance in moto (false: a made-up id, for tests without volumes).
    init(instance: Bool = true) throws {
        name = "mount-it-\(UUID().uuidString.prefix(8).lowercased())"
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-\(name)").path
        knownHosts = folder + "/known_hosts"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if instance {
            let answer = try EC2.call("RunInstances", [
                "ImageId": .string(try EC2.imageID.get()), "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro",
                "Placement": ["AvailabilityZone": "us-east-1a"],
                "KeyName": .string(LocalCloud.environment["PORTAL_LOCAL_KEY_PAIR"] ?? ""),
                "TagSpecifications": [["ResourceType": "instance", "Tags": [["Key": "portal-name", "Value": .string(name)]]]],
            ])
            guard let id = answer["instancesSet"]?[0]?["instanceId"]?.stringValue else {
                throw Failure("RunInstances gave no instance id")
            }
            instanceID = id
            do {
                machine = try Machine.ready(id)
            } catch {
                _ = try? EC2.call("TerminateInstances", ["InstanceId": [.string(id)]])
                throw error
            }
        } else {
            instanceID = "i-\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(17).lowercased())"
            machine = Machine(instanceID: instanceID, address: "127.0.0.1", pid: 0, hostKeys: [])
        }
        ownsInstance = instance
    }

    func createVolume(size: Int = 1) throws -> String {
        let answer = try EC2.call("CreateVolume", ["Size": .int(Int64(size)), "AvailabilityZone": "us-east-1a"])
        guard let id = answer["volumeId"]?.stringValue else { throw Failure("CreateVolume gave no volume id") }
        volumes.append(id)
        return id
    }

    func attach(_ volume: String, device: String = "/dev/xvdf") throws {
        try EC2.call("AttachVolume", ["VolumeId": .string(volume), "InstanceId": .string(instanceID), "Device": .string(device)])
        attached.insert(volume)
    }

    /// Detaches and waits until the local cloud has unmounted and released it.
    func detach(_ volume: String) throws {
        try EC2.call("DetachVolume", ["VolumeId": .string(volume), "InstanceId": .string(instanceID)])
        attached.remove(volume)
        guard waitUntil(seconds: 15, { !machine.exists(LocalVolumes.link(volume)) && Machine.device(of: volume) == nil }) else {
            throw Failure("\(volume) still has its device 15 s after DetachVolume")
        }
    }

    /// The host's loop device behind the volume, once the local cloud made its
    /// device and by-id link on the machine.
    func waitForDevice(_ volume: String) throws -> String {
        let link = LocalVolumes.link(volume)
        guard waitUntil(seconds: 15, { machine.exists(link) }) else {
            throw Failure("no \(link) on \(instanceID) 15 s after AttachVolume")
        }
        return try Machine.loopDevice(of: volume)
    }

    /// Writes NAME.json: a spec as for AWS (LocalCloud.spec); with port, one that
    /// reaches sshd at 127.0.0.1:port instead.
    @discardableResult
    func writeSpec(volumes: [(String, String, String)], setupCommands: [String] = [], identityFile: String? = nil,
                   port: Int? = nil) throws -> String {
        var spec = LocalCloud.spec(volumes: volumes.map { volume, device, mountPoint in
            ["volume_id": .string(volume), "device": .string(device), "mount_point": .string(mountPoint)]
        }, setupCommands: setupCommands, identityFile: identityFile)
        if let port { spec["ssh"] = ["host": "127.0.0.1", "port": .int(Int64(port))] }
        let path = folder + "/\(name).json"
        try spec.serialized(pretty: true).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The document portal-mount reads: portal-spec's, with "instance" and "attachments"
    /// as portal-spot-request and portal-volume-attach write them, and a key of nobody's.
    func document(volumes: [(String, String, String)], setupCommands: [String] = [], identityFile: String? = nil,
                  port: Int? = nil) throws -> String {
        let spec = try writeSpec(volumes: volumes, setupCommands: setupCommands, identityFile: identityFile, port: port)
        let result = try run("portal-spec", [spec])
        guard result.status == 0, var document = result.json else { throw Failure("portal-spec: \(result.stderr)") }
        document["instance"] = [
            "id": .string(instanceID), "type": "t3.micro", "zone": "us-east-1a", "state": "running",
            "public_ip": .string(machine.address), "private_ip": .string(machine.address), "public_dns": "", "private_dns": "",
        ]
        document["attachments"] = .array(volumes.map { volume, device, mountPoint in
            ["volume_id": .string(volume), "device": .string(device), "mount_point": .string(mountPoint),
             "instance_id": .string(instanceID), "state": "attached"]
        })
        document["x-passed-through"] = ["kept": true]
        return document.serialized()
    }

    /// Runs portal-mount with the fixture's known_hosts and no ssh-agent.
    func mount(_ document: String, arguments: [String] = []) throws -> Run {
        let result = try run("portal-mount", arguments, stdin: document,
                             environment: ["PORTAL_KNOWN_HOSTS": knownHosts, "SSH_AUTH_SOCK": ""])
        if result.status == 0 {
            #expect(result.json?["x-passed-through"] == ["kept": true], "portal-mount must pass through what it did not write")
        }
        return result
    }

    func cleanup() {
        for volume in attached {
            _ = try? EC2.call("DetachVolume", ["VolumeId": .string(volume), "InstanceId": .string(instanceID)])
        }
        if ownsInstance { _ = try? EC2.call("TerminateInstances", ["InstanceId": [.string(instanceID)]]) }
        for volume in volumes {
            _ = waitUntil(seconds: 15) { Machine.device(of: volume) == nil }
            if (try? EC2.call("DeleteVolume", ["VolumeId": .string(volume)])) != nil,
               let cloud = LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] {
                try? FileManager.default.removeItem(atPath: cloud + "/volumes/\(volume).img")
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }
}

final class ResultsBox: @unchecked Sendable {  // appended to under the lock
    private let lock = NSLock()
    private(set) var values: [Run?] = []
    func append(_ value: Run?) { lock.withLock { values.append(value) } }
}

func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(100_000)
    }
    return condition()
}
