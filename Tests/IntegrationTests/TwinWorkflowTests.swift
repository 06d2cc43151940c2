import Foundation
import PortalBase
import Testing

/// The README's workflow through the porcelain on the twin (bin/local-cloud up: every
/// instance a machine of its own), with specs written exactly as for AWS
/// (LocalCloud.spec: no "ssh" section). What each test checks on a machine it reads
/// from the host through /proc/<the machine's PID 1>/root (Machine).
@Suite(.enabled(if: LocalCloud.available && LocalVolumes.available && LocalCloud.machines))
struct TwinWorkflowTests {
    /// Writes the portal's spec as for AWS, on the given volumes, with setup commands.
    func writeSpec(_ p: TestPortal, instanceType: String, volumes: [String], mountPoint: String,
                   setupCommands: [String] = []) throws {
        let spec = LocalCloud.spec(instanceType: instanceType, volumes: volumes.map {
            ["volume_id": .string($0), "device": "/dev/xvdf", "mount_point": .string(mountPoint)]
        }, setupCommands: setupCommands)
        try spec.serialized(pretty: true).write(toFile: p.specPath, atomically: true, encoding: .utf8)
    }

    func knownHosts(_ p: TestPortal) -> [String: String] {
        ["PORTAL_KNOWN_HOSTS": p.folder.appendingPathComponent("known_hosts").path, "SSH_AUTH_SOCK": ""]
    }

    @Test("a CPU portal's volume, closed, is mounted again by a GPU portal (detached, reattached, not already mounted) with its data; setup_commands write on the instance only; first contact is verified against the console")
    func volumeMovesFromCPUToGPU() throws {
        let cpu = try TestPortal(volumes: 1)
        let gpu = try TestPortal(volumes: 0)
        defer {
            _ = try? gpu.portal(["close", gpu.name, "-q"])
            _ = try? cpu.portal(["close", cpu.name, "-q"])
        }
        let volume = try #require(cpu.volumes.first)
        let data = "/tmp/\(cpu.name)/data"
        let marker = "/home/ubuntu/setup-\(cpu.name)", etc = "/etc/setup-\(cpu.name)"
        try writeSpec(cpu, instanceType: "t3.medium", volumes: [volume], mountPoint: data,
                      setupCommands: ["echo cpu > \(marker) && sudo touch \(etc)"])
        try writeSpec(gpu, instanceType: "p3.2xlarge", volumes: [volume], mountPoint: data)

        let opened = try cpu.portal(["open", cpu.name, "--json"], environment: knownHosts(cpu))
        #expect(opened.status == 0, "\(opened.stderr)")
        let cpuID = try #require(opened.json?["instance"]?["id"]?.stringValue)
        #expect(opened.stderr.contains(LocalCloud.firstContact(cpuID)), "\(opened.stderr)")
        #expect(opened.json?["mounts"]?[0]?["formatted"] == true)
        let cpuMachine = try Machine.ready(cpuID)
        #expect(cpuMachine.isMounted(data))
        #expect(try cpuMachine.read(marker) == "cpu\n" && cpuMachine.exists(etc))
        #expect(!FileManager.default.fileExists(atPath: marker) && !FileManager.default.fileExists(atPath: etc))
        let wrote = try cpu.portal(["ssh", cpu.name, "--", "seq 1 1000 > \(data)/numbers.txt"], environment: knownHosts(cpu))
        #expect(wrote.status == 0, "\(wrote.stderr)")
        #expect(try cpu.portal(["close", cpu.name]).status == 0)
        #expect(try cpu.volume(volume)?["status"] == "available")
        // The machine is gone with its mounts: nothing of it is left mounted anywhere.
        #expect(!LocalVolumes.isMounted(data))

        let reopened = try gpu.portal(["open", gpu.name, "--json"], environment: knownHosts(gpu))
        #expect(reopened.status == 0, "\(reopened.stderr)")
        let gpuID = try #require(reopened.json?["instance"]?["id"]?.stringValue)
        #expect(gpuID != cpuID)
        #expect(reopened.json?["instance"]?["type"] == "p3.2xlarge")
        let mount = try #require(reopened.json?["mounts"]?[0])
        #expect(mount["formatted"] == false)
        #expect(mount["already_mounted"] == false)
        #expect(!reopened.stderr.contains("already mounted"), "\(reopened.stderr)")
        let gpuMachine = try Machine.ready(gpuID)
        #expect(gpuMachine.isMounted(data))
        // setup_commands of the CPU portal ran on its own root file system, discarded with it
        #expect(!gpuMachine.exists(marker))
        let count = try gpu.portal(["ssh", gpu.name, "--", "wc -l < \(data)/numbers.txt"], environment: knownHosts(gpu))
        #expect(count.status == 0, "\(count.stderr)")
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1000")

        // portal volume delete: the volume's data goes with it (its file on the twin)
        #expect(try gpu.portal(["close", gpu.name, "-q"]).status == 0)
        let image = (LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] ?? "") + "/volumes/\(volume).img"
        #expect(FileManager.default.fileExists(atPath: image))
        let deleted = try gpu.portal(["volume", "delete", "-f", volume])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(waitUntil(seconds: 10) { !FileManager.default.fileExists(atPath: image) }, "\(image) is still there")
    }

    @Test("two portals open at once, each on a machine of its own with its own address, host key and volume")
    func twoPortalsAtOnce() throws {
        let a = try TestPortal(volumes: 1), b = try TestPortal(volumes: 1)
        defer {
            _ = try? a.portal(["close", a.name, "-q"])
            _ = try? b.portal(["close", b.name, "-q"])
        }
        let data = "/tmp/portal-data"  // the same mount point on both: each machine has its own
        for p in [a, b] { try writeSpec(p, instanceType: "t3.medium", volumes: p.volumes, mountPoint: data) }
        let results = ResultsBox()
        let opens = [a, b].map { p in (p.name, p.folder.path, knownHosts(p).merging(p.environment) { mine, _ in mine }) }
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let (name, folder, environment) = opens[i]
            results.append(try? run("portal", ["open", name, "--json"], environment: environment, directory: folder))
        }
        let runs = results.values.compactMap { $0 }
        #expect(runs.count == 2 && runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        let ids = Set(runs.compactMap { $0.json?["instance"]?["id"]?.stringValue })
        #expect(ids.count == 2)
        let machines = try ids.map { try Machine.ready($0) }
        #expect(Set(machines.map(\.address)).count == 2)
        #expect(Set(machines.map(\.hostKeys)).count == 2)
        for m in machines { #expect(m.isMounted(data)) }

        for p in [a, b] {
            #expect(try p.portal(["info", p.name, "-f", "status"]).stdout == "open\n")
            // A file written through one portal is on its volume only.
            let wrote = try p.portal(["ssh", p.name, "--", "echo \(p.name) > \(data)/who && hostname"], environment: knownHosts(p))
            #expect(wrote.status == 0, "\(wrote.stderr)")
            let machine = try #require(machines.first { "ip-" + $0.address.replacingOccurrences(of: ".", with: "-") + "\n" == wrote.stdout })
            #expect(try machine.read(data + "/who") == "\(p.name)\n")
            #expect(machine.instanceID == (try p.liveInstances().first))
        }
        let list = try a.portal(["list", "--json"])
        let open = Set((list.json?.arrayValue ?? []).filter { $0["state"] == "running" }.compactMap { $0["name"]?.stringValue })
        #expect(open.isSuperset(of: [a.name, b.name]), "\(list.stdout)")
    }

    @Test("scp -i \"$(portal info NAME -f key)\" \"$(portal info NAME -f remote)\":FILE . copies a file off the instance, as the documentation shows",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/scp")))
    func scpAsDocumented() throws {
        let p = try TestPortal(volumes: 0)
        try writeSpec(p, instanceType: "t3.medium", volumes: [], mountPoint: "")
        #expect(try p.portal(["open", p.name, "-q"], environment: knownHosts(p)).status == 0)
        defer { _ = try? p.portal(["close", p.name, "-q"]) }
        let id = try #require(try p.liveInstances().first)
        let machine = try Machine.ready(id)
        try machine.write("/home/ubuntu/model.txt", "weights of \(p.name)\n")
        // scp checks the host key against the user's own known_hosts (not Portal Gun's):
        // a file of the test's own, holding the keys the console showed for the instance.
        let userKnownHosts = p.folder.appendingPathComponent("user_known_hosts").path
        try machine.hostKeys.map { "\(machine.address) \($0)\n" }.joined()
            .write(toFile: userKnownHosts, atomically: true, encoding: .utf8)
        let path = Binaries.directory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let environment = ["PATH": path, "SSH_AUTH_SOCK": ""]
        let options = "-o BatchMode=yes -o UserKnownHostsFile='\(userKnownHosts)'"
        let fetched = try run("/bin/sh", ["-c", "scp \(options) -i \"$(portal info \(p.name) -f key)\" \"$(portal info \(p.name) -f remote)\":model.txt ."],
                              environment: environment, directory: p.folder.path)
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(try String(contentsOfFile: p.folder.appendingPathComponent("model.txt").path, encoding: .utf8) == "weights of \(p.name)\n")
        // and the other way, as portal-info(1) shows: scp -i KEY FILE REMOTE:data/
        try "results\n".write(toFile: p.folder.appendingPathComponent("results.txt").path, atomically: true, encoding: .utf8)
        let sent = try run("/bin/sh", ["-c", "scp \(options) -i \"$(portal info \(p.name) -f key)\" results.txt \"$(portal info \(p.name) -f remote)\":"],
                           environment: environment, directory: p.folder.path)
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(try machine.read("/home/ubuntu/results.txt") == "results\n")
    }
}
