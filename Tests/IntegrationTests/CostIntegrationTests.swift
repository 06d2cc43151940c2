import Foundation
import PortalBase
import Testing

/// `portal prices`, `portal volume move` and `portal gc`, the built binary
/// against the local cloud (its gateway serves the spot price history and
/// keeps snapshot data; moto behind it holds the state).
@Suite(.enabled(if: LocalCloud.available))
struct CostIntegrationTests {
    /// One EC2 call in a region through portal-ec2, which must succeed.
    @discardableResult
    static func ec2(_ action: String, _ parameters: JSON = [:], region: String = "us-east-1") throws -> JSON {
        let result = try run("portal-ec2", [action, "--region", region], stdin: parameters.serialized())
        guard result.status == 0, let json = result.json else {
            throw Failure("portal-ec2 \(action) (\(region)): exit \(result.status): \(result.stderr)")
        }
        return json
    }

    static func tagged(_ tags: [String: String], _ type: String) -> JSON {
        ["ResourceType": .string(type),
         "Tags": .array(tags.sorted { $0.key < $1.key }.map { ["Key": .string($0.key), "Value": .string($0.value)] })]
    }

    /// The volumes carrying the test's own tag, in a region.
    static func volumes(tag: String, region: String = "us-east-1") throws -> [JSON] {
        try ec2("DescribeVolumes", ["Filters": [["Name": "tag:test-run", "Values": [.string(tag)]]]], region: region)["volumeSet"]?
            .arrayValue ?? []
    }

    static func snapshots(movedFrom volume: String) throws -> [JSON] {
        try ec2("DescribeSnapshots", ["Owner.1": "self",
                                      "Filters": [["Name": "tag:portal-move-of", "Values": [.string(volume)]]]])["snapshotSet"]?
            .arrayValue ?? []
    }

    static func createVolume(tag: String, zone: String = "us-east-1b", mine: Bool = true, region: String = "us-east-1")
        throws -> String
    {
        var tags = ["Name": "move-it", "test-run": tag, "project": "nlp"]
        if mine { tags["created-by"] = try VolumeIntegrationTests.callerARN() }
        let answer = try ec2("CreateVolume", ["Size": 1, "AvailabilityZone": .string(zone), "VolumeType": "gp3",
                                              "TagSpecifications": [tagged(tags, "volume")]], region: region)
        return try #require(answer["volumeId"]?.stringValue)
    }

    static func cleanUp(tag: String, region: String = "us-east-1") {
        for volume in (try? volumes(tag: tag, region: region)) ?? [] {
            if let id = volume["volumeId"]?.stringValue {
                for snapshot in (try? snapshots(movedFrom: id)) ?? [] {
                    _ = try? ec2("DeleteSnapshot", ["SnapshotId": snapshot["snapshotId"] ?? ""])
                }
                _ = try? ec2("DeleteVolume", ["VolumeId": .string(id)], region: region)
            }
        }
    }

    // MARK: prices

    @Test("portal prices shows the latest price of each type in every zone, marks the zones of your volumes, and --json says the same")
    func prices() throws {
        let tag = UUID().uuidString
        defer { Self.cleanUp(tag: tag) }
        let volume = try Self.createVolume(tag: tag, zone: "us-east-1c")
        let table = try run("portal", ["prices", "m5.large", "p3.2xlarge"])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("TYPE") == true)
        #expect(lines.contains { $0.hasPrefix("p3.2xlarge") && $0.contains("us-east-1c *") })
        #expect(table.stdout.contains("* us-east-1c holds your volume"))
        #expect(table.stdout.contains(volume))

        let json = try run("portal", ["prices", "m5.large", "--json"])
        let rows = try #require(json.json?.arrayValue)
        let zones = rows.compactMap { $0["zone"]?.stringValue }
        #expect(zones.count >= 3 && Set(zones).count == zones.count, "one row per zone: \(zones)")
        #expect(rows.allSatisfy { $0["instance_type"] == "m5.large" && ($0["price"]?.doubleValue ?? 0) > 0 })
        let prices = rows.compactMap { $0["price"]?.doubleValue }
        #expect(Set(prices).count > 1, "zones differ in price: \(prices)")
        #expect(rows.filter { $0["cheapest"] == true }.count == 1)
        #expect(rows.first { $0["zone"] == "us-east-1c" }?["your_volumes"] == [.string(volume)])
        let newest = rows.compactMap { $0["timestamp"]?.stringValue }.max() ?? ""
        let now = ISO8601DateFormatter().string(from: Date())
        #expect(newest <= now && newest > ISO8601DateFormatter().string(from: Date().addingTimeInterval(-7200)),
                "the latest change is within the last two hours: \(newest)")

        let bad = try run("portal", ["prices", "large"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("invalid instance type 'large'"))
    }

    @Test("the price history is served as AWS serves it: newest first, pages of MaxResults, prices changing over the hours")
    func priceHistory() throws {
        var token: JSON = .null
        var stamps: [String] = []
        var prices = Set<String>()
        let start = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-12 * 3600))
        repeat {
            var parameters = JSONObject([("InstanceTypes", ["m5.large"]), ("AvailabilityZone", "us-east-1a"),
                                         ("ProductDescriptions", ["Linux/UNIX"]), ("MaxResults", 5),
                                         ("StartTime", .string(start))])
            if token != .null { parameters["NextToken"] = token }
            let page = try Self.ec2("DescribeSpotPriceHistory", .object(parameters))
            let items = page["spotPriceHistorySet"]?.arrayValue ?? []
            #expect(items.count <= 5)
            stamps += items.compactMap { $0["timestamp"]?.stringValue }
            prices.formUnion(items.compactMap { $0["spotPrice"]?.stringValue })
            token = page["nextToken"].flatMap { $0.stringValue?.isEmpty == false ? $0 : nil } ?? .null
        } while token != .null
        #expect(stamps.count >= 12 && stamps.count <= 14, "a change an hour over 12 hours: \(stamps.count)")
        #expect(stamps == stamps.sorted(by: >), "newest first")
        #expect(prices.count > 5)
    }

    // MARK: volume move

    @Test("a volume moves to another zone: same size, type and tags, nothing left behind, specs that name it listed")
    func move() throws {
        let tag = UUID().uuidString
        defer { Self.cleanUp(tag: tag) }
        let old = try Self.createVolume(tag: tag, zone: "us-east-1b")
        let specs = FileManager.default.temporaryDirectory.appendingPathComponent("move-specs-\(tag)").path
        try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: specs) }
        try #"{"spot_instance": {"availability_zone": "us-east-1b"}, "persistent_volumes": [{"volume_id": "\#(old)"}]}"#
            .write(toFile: specs + "/gpu.json", atomically: true, encoding: .utf8)

        let moved = try run("portal", ["volume", "move", old, "-z", "us-east-1a", "--yes", "--specs", specs])
        #expect(moved.status == 0, "\(moved.stderr)")
        let new = moved.stdout.trimmingCharacters(in: .newlines)
        #expect(new.hasPrefix("vol-") && new != old)
        #expect(moved.stderr.contains("step 1/4: snapshot of '\(old)'"))
        #expect(moved.stderr.contains("\(specs)/gpu.json: persistent_volumes[0].volume_id: put \(new) for \(old), and spot_instance.availability_zone: us-east-1a for us-east-1b"))

        let left = try Self.volumes(tag: tag)
        #expect(left.count == 1, "exactly one volume: \(left.map { $0["volumeId"] ?? .null })")
        let copy = try #require(left.first)
        #expect(copy["volumeId"] == .string(new))
        #expect(copy["availabilityZone"] == "us-east-1a")
        #expect(copy["size"] == 1 && copy["volumeType"] == "gp3")
        var tags: [String: String] = [:]
        for item in copy["tagSet"]?.arrayValue ?? [] { tags[item["key"]?.stringValue ?? ""] = item["value"]?.stringValue }
        #expect(tags["Name"] == "move-it" && tags["project"] == "nlp" && tags["portal-moved-from"] == old)
        #expect(try Self.snapshots(movedFrom: old).isEmpty, "the snapshot is deleted")

        let again = try run("portal", ["volume", "move", old, "-z", "us-east-1a", "--yes"])
        #expect(again.status == 0 && again.stdout == new + "\n", "a rerun after the end says where it went: \(again.stderr)")
        let same = try run("portal", ["volume", "move", new, "-z", "us-east-1a"])
        #expect(same.status == 64 && same.stderr.contains("is already in us-east-1a"))
    }

    @Test("a move is refused while the volume is attached, and for a volume that is not yours; bad input before any call")
    func moveRefused() throws {
        let tag = UUID().uuidString
        defer { Self.cleanUp(tag: tag) }
        let stranger = try Self.createVolume(tag: tag, mine: false)
        let notYours = try run("portal", ["volume", "move", stranger, "-z", "us-east-1a", "--yes"])
        #expect(notYours.status == 1 && notYours.stderr.contains("'\(stranger)' is not yours"))
        #expect(try Self.volumes(tag: tag).count == 1)

        let image = try EC2.imageID.get()
        let instance = try #require(try Self.ec2("RunInstances", [
            "ImageId": .string(image), "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro",
            "Placement": ["AvailabilityZone": "us-east-1b"],
        ])["instancesSet"]?[0]?["instanceId"]?.stringValue)
        defer { _ = try? Self.ec2("TerminateInstances", ["InstanceIds": [.string(instance)]]) }
        let mine = try Self.createVolume(tag: tag)
        try Self.ec2("AttachVolume", ["VolumeId": .string(mine), "InstanceId": .string(instance), "Device": "/dev/xvdf"])
        defer { _ = try? Self.ec2("DetachVolume", ["VolumeId": .string(mine)]) }
        let inUse = try run("portal", ["volume", "move", mine, "-z", "us-east-1a", "--yes"])
        #expect(inUse.status == 1 && inUse.stderr.contains("'\(mine)' is in use: attached to \(instance)"), "\(inUse.stderr)")
        #expect(try Self.snapshots(movedFrom: mine).isEmpty, "nothing made")

        #expect(try run("portal", ["volume", "move", "vol-xyz", "-z", "us-east-1a"]).status == 64)
        #expect(try run("portal", ["volume", "move", mine, "-z", "mars"]).status == 64)
    }

    /// Runs the move and stops it with `signal` once stderr shows `marker`.
    static func interruptedMove(_ volume: String, zone: String, at marker: String, signal: Int32) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("portal"))
        process.arguments = ["volume", "move", volume, "-z", zone, "--yes"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var seen = ""
        while process.isRunning || !seen.isEmpty {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
            if seen.contains(marker) {
                kill(process.processIdentifier, signal)
                break
            }
        }
        _ = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test("stopped at each step (Ctrl-C or killed), a move rerun ends with exactly one volume, in the new zone, and no snapshot",
          arguments: [SIGINT, SIGKILL], ["step 1/4", "snapshot snap-", "step 2/4", "step 3/4", "step 4/4"])
    func moveStoppedThenRerun(signal: Int32, marker: String) throws {
        let tag = UUID().uuidString
        defer { Self.cleanUp(tag: tag) }
        let old = try Self.createVolume(tag: tag)
        let status = try Self.interruptedMove(old, zone: "us-east-1d", at: marker, signal: signal)
        #expect([0, 130, 9].contains(status), "exit \(status)")
        #expect(try Self.volumes(tag: tag).count <= 2)
        let rerun = try run("portal", ["volume", "move", old, "-z", "us-east-1d", "--yes"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let left = try Self.volumes(tag: tag)
        #expect(left.count == 1, "exactly one volume after the rerun: \(left.map { $0["volumeId"] ?? .null })")
        #expect(left.first?["availabilityZone"] == "us-east-1d")
        #expect(left.first?["volumeId"]?.stringValue == rerun.stdout.trimmingCharacters(in: .newlines))
        #expect(try Self.snapshots(movedFrom: old).isEmpty)
    }
}
