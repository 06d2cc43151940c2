import Foundation
import PortalBase
import Testing

@testable import PortalSSH
import PortalModel

struct MountTests {
    @Test("the volumes to mount come from \"attachments\", with the spec's device and mount point when an entry lacks them")
    func requests() throws {
        let document = try sampleDocument(instance: sampleInstance, attachments: [
            ["volume_id": "vol-0123456789abcdef0", "device": "/dev/sdf", "instance_id": "i-1", "state": "attached"],
            ["volume_id": "vol-2", "device": "/dev/xvdg", "mount_point": "/data/it's", "instance_id": "i-1"],
        ])
        #expect(try MountRequest.requests(in: document) == [
            MountRequest(volumeID: "vol-0123456789abcdef0", device: "/dev/sdf", mountPoint: "/home/ubuntu/data"),
            MountRequest(volumeID: "vol-2", device: "/dev/xvdg", mountPoint: "/data/it's"),
        ])
    }

    @Test("a volume id that is not one is bad input (exit 65): it names a device link and a lock file on the instance")
    func badVolumeID() throws {
        for bad in ["vol-../../etc/passwd", "vol-", "volume-1", "vol-ABC", "vol-12 34"] {
            let document = try sampleDocument(instance: sampleInstance, attachments: [
                ["volume_id": .string(bad), "device": "/dev/sdf", "mount_point": "/data"],
            ])
            do { _ = try MountRequest.requests(in: document); Issue.record("accepted \(bad)") } catch let failure as Failure {
                #expect(failure.exitStatus == .dataError)
                #expect(failure.message.contains("expected a volume id"))
            }
        }
    }

    @Test("no \"attachments\" is bad input (exit 65) that names the stage to run first")
    func noAttachments() throws {
        let document = try sampleDocument(instance: sampleInstance)
        do { _ = try MountRequest.requests(in: document); Issue.record("no error") } catch let failure as Failure {
            #expect(failure.exitStatus == .dataError)
            #expect(failure.message.contains("portal-volume-attach"))
        }
    }

    @Test("the mount command hands every value to the constant script as one quoted word")
    func commandQuoting() throws {
        let request = MountRequest(volumeID: "vol-1", device: "/dev/xvdf", mountPoint: #"/tmp/x/it's a "dir" $(touch pwned)"#)
        let command = mountCommand(request, owner: "ubuntu", group: "my group", options: MountOptions(deviceTimeout: 7))
        let words = try wordsAfterShell(command)
        #expect(words.count == 11)
        #expect(words[0...1] == ["sh", "-c"])
        #expect(words[3] == "portal-mount")
        #expect(words[4] == MountScript.text)
        #expect(Array(words[5...]) == ["vol-1", "/dev/xvdf", #"/tmp/x/it's a "dir" $(touch pwned)"#, "ubuntu", "my group", "7"])
        #expect(words[2].contains("sudo -n sh -c"))
        // The script itself never interpolates a value into a command line of its own.
        #expect(!MountScript.text.contains("eval"))
    }

    @Test("as a user other than root the script runs through sudo -n, with the same words and the user's home last",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/su") && getpwnam("nobody") != nil))
    func sudoWhenNotRoot() throws {
        let folder = try TemporaryFolder()
        chmod(folder.path, 0o777)
        let record = folder.file("sudo-args")
        try "#!/bin/sh\nprintf '%s\\0' \"$@\" > \(record)\n".write(toFile: folder.file("sudo"), atomically: true, encoding: .utf8)
        chmod(folder.file("sudo"), 0o755)
        let request = MountRequest(volumeID: "vol-1", device: "/dev/xvdf", mountPoint: "/data/it's here")
        let command = mountCommand(request, owner: "ubuntu", group: "ubuntu", options: MountOptions(deviceTimeout: 7))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/su")
        process.arguments = ["-s", "/bin/sh", "nobody", "-c", "PATH=\(folder.path):/usr/bin:/bin; export PATH; " + command]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let data = try #require(FileManager.default.contents(atPath: record))
        let words = data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        #expect(words == ["-n", "sh", "-c", MountScript.text, "portal-mount", "vol-1", "/dev/xvdf", "/data/it's here",
                          "ubuntu", "ubuntu", "7", String(cString: getpwnam("nobody")!.pointee.pw_dir)])
    }

    @Test("the script's answer is read, and its error line is the message")
    func answers() {
        let values = MountScript.parse("device=/dev/nvme1n1\nfound_by=nvme-by-id-serial\nformatted=1\nsize_bytes=1073741824\n")
        #expect(values["device"] == "/dev/nvme1n1")
        #expect(values["size_bytes"] == "1073741824")
        #expect(MountScript.errorMessage("error=/data already has /dev/sdb mounted on it, not /dev/nvme1n1 (vol-1)\n")
                == "/data already has /dev/sdb mounted on it, not /dev/nvme1n1 (vol-1)")
        #expect(MountScript.errorMessage("device=/dev/x\n") == nil)
    }

    @Test("\"mounts\" entries carry what was found and done; a warning only when there is one")
    func mountJSON() {
        var result = MountResult(volumeID: "vol-1", device: "/dev/nvme1n1", foundBy: "nvme-by-id-serial", mountPoint: "/data",
                                 formatted: true, filesystem: "ext4", sizeBytes: 1 << 30, filesystemBytes: 1 << 30,
                                 grown: false, alreadyMounted: false)
        #expect(result.json.objectValue?.keys == ["volume_id", "device", "mount_point", "formatted", "filesystem",
                                                  "size_bytes", "filesystem_bytes", "grown", "already_mounted", "found_by"])
        result.warning = "could not grow"
        #expect(result.json["warning"] == "could not grow")
        #expect(result.summary == "vol-1 (/dev/nvme1n1): formatted ext4 (it was blank), mounted on /data")
    }
}

struct ProvisionTests {
    @Test("python packages are installed as Portal Gun did (source activate ENV; pip install), then setup commands in order")
    func steps() throws {
        let document = try sampleDocument(instance: sampleInstance, spotInstanceExtras: [
            ("python_virtual_env", "pytorch_p36"), ("extra_python_packages", ["tqdm", "torch==2.1"]),
            ("setup_commands", ["sudo apt-get install -y htop", "echo done > ~/ready"]),
        ])
        let steps = provisionSteps(for: document.spec)
        #expect(steps.count == 3)
        #expect(try wordsAfterShell(steps[0].command) == [
            "bash", "-l", "-c", #"source activate "$1" && shift && pip install "$@""#, "portal-provision",
            "pytorch_p36", "tqdm", "torch==2.1",
        ])
        #expect(steps[0].description == "pip install tqdm torch==2.1 (in virtual env pytorch_p36)")
        #expect(steps[1].command == "sudo apt-get install -y htop")
        #expect(steps[1].description == "setup command 1 of 2: sudo apt-get install -y htop")
        #expect(steps[2].command == "echo done > ~/ready")
    }

    @Test("nothing to install, nothing to run: no steps (and no connection needed for them)")
    func nothing() throws {
        #expect(provisionSteps(for: try sampleDocument().spec).isEmpty)
        let result = ProvisionResult(pythonVirtualEnv: "pytorch", pythonPackages: ["tqdm"], setupCommands: 2)
        #expect(result.json == ["python_virtual_env": "pytorch", "python_packages": ["tqdm"], "setup_commands": 2])
    }
}
