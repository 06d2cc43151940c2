import Foundation
import PortalBase
import Testing

/// A portal of a test's own on the local cloud: a folder with NAME.json, a
/// volume of its own, and cleanup of everything left, even on failure.
final class TestPortal {
    let name: String
    let folder: URL
    var volumes: [String] = []
    let environment: [String: String]

    static let ami: String = {
        let images = try? run("portal-ec2", stdin: #"{"Action": "DescribeImages", "Owner.1": "amazon", "Filter.1.Name": "name", "Filter.1.Value.1": "*ubuntu*"}"#)
        return images?.json?["imagesSet"]?[0]?["imageId"]?.stringValue ?? "ami-00000000"
    }()
    static let securityGroup: String = {
        let groups = try? run("portal-ec2", ["DescribeSecurityGroups"])
        return groups?.json?["securityGroupInfo"]?[0]?["groupId"]?.stringValue ?? "sg-00000000"
    }()

    init(volumes count: Int = 1, zone: String = "us-east-1a", volumeZone: String? = nil,
         environment: [String: String] = [:]) throws
    {
        name = "t\(UUID().uuidString.prefix(8).lowercased())"
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-\(name)")
        self.environment = environment
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for _ in 0..<count {
            let created = try run("portal-ec2", ["CreateVolume"],
                                  stdin: #"{"Size": 1, "AvailabilityZone": "\#(volumeZone ?? zone)"}"#)
            volumes.append(try #require(created.json?["volumeId"]?.stringValue, "\(created.stderr)"))
        }
        try writeSpec(zone: zone)
    }

    func writeSpec(zone: String) throws {
        let spec = LocalCloud.spec(instanceType: "t3.medium", zone: zone, volumes: volumes.enumerated().map { i, id in
            ["volume_id": .string(id), "device": .string("/dev/xvd\(Character(UnicodeScalar(102 + i)!))"),
             "mount_point": .string("/tmp/\(name)/v\(i)")]
        })
        try spec.serialized(pretty: true).write(to: folder.appendingPathComponent("\(name).json"), atomically: true, encoding: .utf8)
    }

    var specPath: String { folder.appendingPathComponent("\(name).json").path }

    /// `portal ARGS…` in the portal's folder.
    @discardableResult
    func portal(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:]) throws -> Run {
        try run("portal", arguments, stdin: stdin, environment: environment.merging(extra) { _, new in new },
                directory: folder.path)
    }

    /// The portal's live instances, straight from moto.
    func liveInstances() throws -> [String] { try Self.liveInstances(name) }

    static func liveInstances(_ name: String) throws -> [String] {
        let answer = try run("portal-ec2", stdin: """
            {"Action": "DescribeInstances", "Filters": [{"Name": "tag:portal-name", "Values": ["\(name)"]},
             {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]}
            """)
        return (answer.json?["reservationSet"]?.arrayValue ?? []).flatMap { r in
            (r["instancesSet"]?.arrayValue ?? []).compactMap { $0["instanceId"]?.stringValue }
        }
    }

    func volume(_ id: String) throws -> JSON? {
        try run("portal-ec2", stdin: #"{"Action": "DescribeVolumes", "VolumeId.1": "\#(id)"}"#).json?["volumeSet"]?[0]
    }

    deinit {
        for id in (try? liveInstances()) ?? [] {
            _ = try? run("portal-ec2", ["TerminateInstances"], stdin: #"{"InstanceId.1": "\#(id)"}"#)
        }
        for id in volumes {
            for _ in 0..<20 {
                let deleted = try? run("portal-ec2", ["DeleteVolume"], stdin: #"{"VolumeId": "\#(id)"}"#)
                if deleted?.status == 0 || deleted?.stderr.contains("NotFound") == true { break }
                usleep(200_000)
            }
        }
        try? FileManager.default.removeItem(at: folder)
    }
}

/// The scripted proxy (Fixtures/scripted-proxy.py) in front of the local
/// cloud's moto, for what moto cannot do: a slow fulfilment or a capacity
/// error. Everything else passes through to the real moto.
final class ScriptedProxy {
    let process = Process()
    let endpoint: String

    init(mode: String) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/scripted-proxy.py").path
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID())").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, portFile, LocalCloud.endpoint, mode]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var port = ""
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8) { port = text; break }
            usleep(50_000)
        }
        try? FileManager.default.removeItem(atPath: portFile)
        guard !port.isEmpty else { throw Failure("the scripted proxy did not start") }
        endpoint = "http://127.0.0.1:\(port)"
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite(.enabled(if: LocalCloud.available))
struct PortalLifecycleTests {
    @Test("open, info, list, close: the porcelain runs the whole cycle and leaves nothing running")
    func cycle() throws {
        let p = try TestPortal(volumes: 2)
        let open = try p.portal(["open", p.name, "--no-mount"])
        #expect(open.status == 0, "\(open.stderr)")
        #expect(open.stderr.contains("portal '\(p.name)' is open"))
        let live = try p.liveInstances()
        #expect(live.count == 1)
        for (i, id) in p.volumes.enumerated() {
            let volume = try #require(try p.volume(id))
            #expect(volume["attachmentSet"]?[0]?["instanceId"]?.stringValue == live.first)
            let tags = volume["tagSet"]?.arrayValue ?? []
            #expect(tags.contains(["key": "mount-point", "value": .string("/tmp/\(p.name)/v\(i)")]))
            #expect(tags.contains(["key": "portal-name", "value": .string(p.name)]))
        }

        #expect(try p.portal(["info", p.name, "-f", "status"]).stdout == "open\n")
        #expect(try p.portal(["info", p.name, "-f", "id"]).stdout == "\(live.first ?? "")\n")
        #expect(try p.portal(["info", p.name, "-f", "host"]).stdout == "\(try Machine.ready(live.first ?? "").address)\n")
        let info = try p.portal(["info", p.name, "--json"])
        #expect(info.json?["status"] == "open")
        #expect(info.json?["volumes"]?.arrayValue?.count == 2)
        let list = try p.portal(["list", "--json"])
        #expect(list.json?.arrayValue?.contains { $0["name"]?.stringValue == p.name } == true)
        #expect(try p.portal(["list"]).stdout.contains(p.name))

        let close = try p.portal(["close", p.name])
        #expect(close.status == 0, "\(close.stderr)")
        #expect(try p.liveInstances().isEmpty)
        for id in p.volumes {
            let volume = try #require(try p.volume(id))
            #expect(volume["status"] == "available")
            let tags = volume["tagSet"]?.arrayValue ?? []
            #expect(!tags.contains { $0["key"] == "mount-point" })
        }
        let closed = try p.portal(["info", p.name, "-f", "status"])
        #expect(closed.stdout == "close\n")
        #expect(try p.portal(["info", p.name, "-f", "id"]).status == 1)
        let again = try p.portal(["close", p.name])
        #expect(again.status == 0)
        #expect(again.stderr.contains("is not open"))
    }

    @Test("the plumbing pipeline and portal open end in the same document and the same AWS state")
    func composition() throws {
        let piped = try TestPortal()
        let spec = try run("portal-spec", [piped.specPath])
        let launched = try run("portal-spot-request", stdin: spec.stdout)
        #expect(launched.status == 0, "\(launched.stderr)")
        let attached = try run("portal-volume-attach", stdin: launched.stdout)
        #expect(attached.status == 0, "\(attached.stderr)")

        let porcelain = try TestPortal()
        let opened = try porcelain.portal(["open", porcelain.name, "--no-mount", "--json", "-q"])
        #expect(opened.status == 0, "\(opened.stderr)")

        // The same document, but for what differs between two portals.
        func normalised(_ json: JSON?, _ p: TestPortal) -> String {
            var text = json?.serialized() ?? ""
            let instance = json?["instance"]
            for value in [instance?["id"], instance?["spot_request_id"], instance?["public_ip"], instance?["private_ip"], instance?["public_dns"],
                          instance?["private_dns"], instance?["launch_time"]].compactMap({ $0?.stringValue })
            {
                text = text.replacingOccurrences(of: value, with: "<instance>")
            }
            for id in p.volumes { text = text.replacingOccurrences(of: id, with: "<volume>") }
            return text.replacingOccurrences(of: p.name, with: "<name>")
        }
        #expect(normalised(attached.json, piped) == normalised(opened.json, porcelain))
        #expect(attached.json?["attachments"]?[0]?["state"] == "attached")
        // The same AWS state: one live instance, the volume attached and tagged.
        for p in [piped, porcelain] {
            #expect(try p.liveInstances().count == 1)
            let volume = try #require(try p.volume(p.volumes[0]))
            #expect(volume["status"] == "in-use")
            // Bound first: #expect((a ?? b).contains(c)) expands to a call whose result is dropped.
            let tags = volume["tagSet"]?.arrayValue ?? []
            #expect(tags.contains(["key": "portal-name", "value": .string(p.name)]), "\(tags)")
        }
        // And the plumbing closes what the porcelain opened.
        let cancelled = try run("portal-spot-cancel", stdin: opened.stdout)
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(cancelled.json?["closed"]?["state"] == "terminated")
        #expect(try porcelain.liveInstances().isEmpty)
        #expect(try piped.portal(["close", piped.name, "-q"]).status == 0)
        #expect(try piped.liveInstances().isEmpty)
    }

    @Test("a portal already open is refused by portal-spot-request and continued by portal open")
    func alreadyOpen() throws {
        let p = try TestPortal()
        #expect(try p.portal(["open", p.name, "--no-mount", "-q"]).status == 0)
        let spec = try run("portal-spec", [p.specPath])
        let again = try run("portal-spot-request", stdin: spec.stdout)
        #expect(again.status == 1)
        #expect(again.stderr.contains("portal '\(p.name)' is already open"))
        let reopen = try p.portal(["open", p.name, "--no-mount"])
        #expect(reopen.status == 0, "\(reopen.stderr)")
        #expect(reopen.stderr.contains("already open: continuing"))
        #expect(try p.liveInstances().count == 1)
        try p.portal(["close", p.name, "-q"])
    }

    @Test("a volume in another zone is refused before anything is launched")
    func volumeInAnotherZone() throws {
        let p = try TestPortal(zone: "us-east-1a", volumeZone: "us-east-1b")
        let open = try p.portal(["open", p.name, "--no-mount"])
        #expect(open.status == 1)
        #expect(open.stderr.contains("is in us-east-1b, the instance would be in us-east-1a"))
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("a volume that does not exist is refused before anything is launched")
    func missingVolume() throws {
        let p = try TestPortal(volumes: 0)
        p.volumes = ["vol-0123456789abcdef0"]
        try p.writeSpec(zone: "us-east-1a")
        p.volumes = []
        let open = try p.portal(["open", p.name, "--no-mount"])
        #expect(open.status == 1)
        #expect(open.stderr.contains("volume 'vol-0123456789abcdef0' does not exist"))
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("Ctrl-C while the instance is pending cancels, terminates, waits, and exits 130")
    func interruptDuringWait() throws {
        let proxy = try ScriptedProxy(mode: "pending")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let (process, stderr) = try startPortal(p, ["open", p.name, "--no-mount"])
        try waitFor(stderr, "pending")
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr.text)")
        #expect(stderr.text.contains("cancelling the request and terminating"))
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("a launch that times out leaves nothing running and exits 75")
    func timeout() throws {
        let proxy = try ScriptedProxy(mode: "pending")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let open = try p.portal(["open", p.name, "--no-mount", "--timeout", "1"])
        #expect(open.status == 75, "\(open.stderr)")
        #expect(open.stderr.contains("timed out"))
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("no capacity: exit 75 with what happened and what to do, nothing launched")
    func noCapacity() throws {
        let proxy = try ScriptedProxy(mode: "capacity")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let open = try p.portal(["open", p.name, "--no-mount"])
        #expect(open.status == 75, "\(open.stderr)")
        #expect(open.stderr.contains("InsufficientInstanceCapacity"))
        #expect(open.stderr.contains("try again later, another zone, or another type"))
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("SIGKILL mid-open, then a rerun leaves exactly one instance, and close leaves none")
    func killedMidOpen() throws {
        let proxy = try ScriptedProxy(mode: "pending")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let (process, stderr) = try startPortal(p, ["open", p.name, "--no-mount"])
        try waitFor(stderr, "pending")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try p.liveInstances().count == 1)
        let rerun = try p.portal(["open", p.name, "--no-mount"], environment: ["AWS_ENDPOINT_URL": LocalCloud.endpoint])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try p.liveInstances().count == 1)
        let close = try p.portal(["close", p.name], environment: ["AWS_ENDPOINT_URL": LocalCloud.endpoint])
        #expect(close.status == 0, "\(close.stderr)")
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("portal init off the local cloud writes a draft that portal-spec reports as still to be filled, and never overwrites")
    func initDraft() throws {
        let p = try TestPortal(volumes: 0)
        // Not the local cloud: without its exports, the required values are placeholders.
        let made = try p.portal(["init", "draft"], environment: ["PORTAL_LOCAL_IMAGE_ID": ""])
        #expect(made.status == 0, "\(made.stderr)")
        let check = try run("portal-spec", [p.folder.appendingPathComponent("draft.json").path])
        #expect(check.status == 65)
        #expect(check.stderr.contains("still to be filled: spot_instance.instance_type"))
        let again = try p.portal(["init", "draft"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"))
    }

    @Test("an unknown command runs portal-NAME from the exec path, as git does")
    func externalCommand() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exec-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("portal-hello")
        try "#!/bin/sh\necho \"hello $*\"\nexit 3\n".write(to: script, atomically: true, encoding: .utf8)
        chmod(script.path, 0o755)
        let viaOption = try run("portal", ["--exec-path", dir.path, "hello", "a", "b"])
        #expect(viaOption.stdout == "hello a b\n")
        #expect(viaOption.status == 3)
        let viaEnv = try run("portal", ["hello"], environment: ["PORTAL_EXEC_PATH": dir.path])
        #expect(viaEnv.stdout == "hello \n")
        let unknown = try run("portal", ["nosuchcommand"])
        #expect(unknown.status == 64)
    }
}

/// Starts `portal ARGS…` without waiting, collecting stderr as it comes.
func startPortal(_ p: TestPortal, _ arguments: [String]) throws -> (Process, StreamBox) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Binaries.path("portal"))
    process.arguments = arguments
    process.currentDirectoryURL = p.folder
    process.environment = ProcessInfo.processInfo.environment.merging(p.environment) { _, new in new }
    let pipe = Pipe()
    process.standardError = pipe
    process.standardOutput = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    let box = StreamBox()
    pipe.fileHandleForReading.readabilityHandler = { handle in box.append(handle.availableData) }
    try process.run()
    return (process, box)
}

final class StreamBox: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.withLock { data.append(more) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

func waitFor(_ box: StreamBox, _ text: String, timeout: TimeInterval = 30) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if box.text.contains(text) { return }
        usleep(50_000)
    }
    throw Failure("'\(text)' did not appear within \(Int(timeout)) s; stderr so far: \(box.text)")
}
