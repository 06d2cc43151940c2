import Foundation
import PortalBase
import Testing

/// `portal open` and `close` against what AWS does and moto does not (held by
/// the scripted proxy): instance ids unknown for a moment after launch, a
/// pending instance found by a rerun, spot fleets; and Ctrl-C at each stage,
/// delivered to the real binaries.
@Suite(.enabled(if: LocalCloud.available))
struct OpenPipelineTests {
    @Test("an instance id unknown to DescribeInstances just after launch is waited for, not taken as failure")
    func unknownAfterLaunch() throws {
        let proxy = try ScriptedProxy(mode: "unknown=2")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let open = try p.portal(["open", p.name, "--no-mount"])
        #expect(open.status == 0, "\(open.stderr)")
        #expect(try p.liveInstances().count == 1)
        #expect(try p.portal(["close", p.name, "-q"]).status == 0)
    }

    @Test("portal open run again while the portal's instance is pending waits for running before attaching")
    func rerunWhilePending() throws {
        let p = try TestPortal()
        let spec = try run("portal-spec", [p.specPath])
        let launched = try run("portal-spot-request", stdin: spec.stdout)
        try #require(launched.status == 0, "\(launched.stderr)")
        let proxy = try ScriptedProxy(mode: "pending=3")
        let open = try p.portal(["open", p.name, "--no-mount"], environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        #expect(open.status == 0, "\(open.stderr)")
        #expect(open.stderr.contains("(pending)"))
        #expect(!open.stderr.contains("IncorrectState"))
        #expect(try p.volume(p.volumes[0])?["attachmentSet"]?[0]?["status"] == "attached")
        #expect(try p.portal(["close", p.name, "-q"]).status == 0)
    }

    @Test("portal close on a spot-fleet portal cancels the fleet, not only the instance")
    func closeCancelsFleet() throws {
        let p = try TestPortal()
        var spec = try JSON(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: p.specPath))))
        spec["spot_fleet"] = ["iam_fleet_role": "arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role"]
        try spec.serialized(pretty: true).write(toFile: p.specPath, atomically: true, encoding: .utf8)
        let open = try p.portal(["open", p.name, "--no-mount", "--json", "-q"])
        #expect(open.status == 0, "\(open.stderr)")
        let fleet = try #require(open.json?["instance"]?["spot_fleet_request_id"]?.stringValue, "\(open.stdout)")
        #expect(fleetState(fleet) == "active")
        let close = try p.portal(["close", p.name])
        #expect(close.status == 0, "\(close.stderr)")
        #expect(close.stderr.contains("fleet \(fleet)"))
        #expect(try p.liveInstances().isEmpty)
        #expect(fleetState(fleet).map { $0.hasPrefix("cancelled") } ?? true, "fleet \(fleet) is \(fleetState(fleet) ?? "?")")
    }

    /// The fleet's state, nil when EC2 no longer knows it.
    func fleetState(_ id: String) -> String? {
        let answer = try? run("portal-ec2", stdin: #"{"Action": "DescribeSpotFleetRequests", "SpotFleetRequestId.1": "\#(id)"}"#)
        return answer?.json?["spotFleetRequestConfigSet"]?[0]?["spotFleetRequestState"]?.stringValue
    }

    @Test("Ctrl-C while the volumes attach closes the new portal, waits for terminated, and exits 130")
    func interruptDuringAttach() throws {
        let proxy = try ScriptedProxy(mode: "attaching")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let (process, stderr) = try startPortal(p, ["open", p.name])
        try waitFor(stderr, "attaching")
        usleep(300_000)
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr.text)")
        #expect(stderr.text.contains("closing the portal"))
        #expect(stderr.text.contains("terminated"))
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("--keep-on-failure: Ctrl-C while the volumes attach keeps the instance and exits 130")
    func interruptKeep() throws {
        let proxy = try ScriptedProxy(mode: "attaching")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let (process, stderr) = try startPortal(p, ["open", p.name, "--keep-on-failure"])
        try waitFor(stderr, "attaching")
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr.text)")
        #expect(!stderr.text.contains("closing the portal"))
        #expect(try p.liveInstances().count == 1)
    }

    @Test("a second Ctrl-C while closing exits at once, saying what is still running")
    func secondInterrupt() throws {
        let proxy = try ScriptedProxy(mode: "attaching,shutting")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let (process, stderr) = try startPortal(p, ["open", p.name])
        try waitFor(stderr, "attaching")
        process.interrupt()
        try waitFor(stderr, "closing the portal")
        usleep(500_000)
        #expect(process.isRunning, "the close waits for terminated, which the proxy never shows")
        process.interrupt()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        #expect(!process.isRunning, "still running 10 s after the second Ctrl-C")
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr.text)")
        let live = try p.liveInstances()
        #expect(stderr.text.contains("interrupted again"))
        #expect(stderr.text.contains("may still be running"))
        #expect(live.allSatisfy { stderr.text.contains($0) })
    }

    @Test("Ctrl-C cuts a request in flight short instead of waiting out its timeout, then cleans up")
    func interruptInFlight() throws {
        let proxy = try ScriptedProxy(mode: "hang=AttachVolume")
        let p = try TestPortal(environment: ["AWS_ENDPOINT_URL": proxy.endpoint])
        let (process, stderr) = try startPortal(p, ["open", p.name])
        try waitFor(stderr, "attaching")
        usleep(500_000)
        let interrupted = Date()
        process.interrupt()
        process.waitUntilExit()
        // The request's own timeout is 60 s; the cleanup takes a few.
        #expect(Date().timeIntervalSince(interrupted) < 20, "\(stderr.text)")
        #expect(process.terminationStatus == 130, "\(stderr.text)")
        #expect(try p.liveInstances().isEmpty)
    }

    @Test("Ctrl-C stops portal-mount's remote script (and with it its lock) and exits 130")
    func interruptMount() throws {
        let fixture = try MountFixture()
        defer { fixture.cleanup() }
        // A volume that is not attached: the script waits for its device.
        let volume = "vol-0fedcba987654321\(Int.random(in: 0..<10))"
        let document = try fixture.document(volumes: [(volume, "/dev/xvdz", fixture.folder + "/never")])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("portal-mount"))
        process.arguments = ["--no-provision", "--device-timeout", "120"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["PORTAL_KNOWN_HOSTS": fixture.knownHosts, "SSH_AUTH_SOCK": ""]) { _, new in new }
        let input = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let stderr = StreamBox()
        errors.fileHandleForReading.readabilityHandler = { handle in stderr.append(handle.availableData) }
        try process.run()
        input.fileHandleForWriting.write(Data(document.utf8))
        try input.fileHandleForWriting.close()
        func remoteScripts() -> Int {
            let found = try? run("/usr/bin/pgrep", ["-f", "portal-mount.*\(volume)"])
            return (found?.stdout ?? "").split(separator: "\n").count
        }
        #expect(waitUntil(seconds: 30) { remoteScripts() > 0 }, "the mount script never started: \(stderr.text)")
        process.interrupt()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "\(stderr.text)")
        #expect(waitUntil(seconds: 10) { remoteScripts() == 0 }, "the remote script is still running")
    }
}
