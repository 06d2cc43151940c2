import Foundation
import PortalAWS
import PortalBase
import Testing

@testable import PortalCore
import PortalModel

/// Prices, the cost of an instance so far, the EBS price table, and the pure
/// parts of `portal volume move` (`swift test --filter CostTests`).
@Suite struct CostTests {
    /// A DescribeSpotPriceHistory answer shaped as the EC2 API reference's example.
    static let historyXML = """
        <DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
          <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
          <spotPriceHistorySet>
            <item><instanceType>m3.medium</instanceType><productDescription>Linux/UNIX</productDescription>
              <spotPrice>0.0287</spotPrice><timestamp>2014-01-06T04:32:53.000Z</timestamp>
              <availabilityZone>us-west-2a</availabilityZone></item>
            <item><instanceType>m3.medium</instanceType><productDescription>Linux/UNIX</productDescription>
              <spotPrice>0.0301</spotPrice><timestamp>2014-01-05T23:56:40.000Z</timestamp>
              <availabilityZone>us-west-2b</availabilityZone></item>
            <item><instanceType>m3.medium</instanceType><productDescription>Linux/UNIX</productDescription>
              <spotPrice>0.0110</spotPrice><timestamp>2014-01-05T20:11:03.000Z</timestamp>
              <availabilityZone>us-west-2c</availabilityZone></item>
            <item><instanceType>m3.medium</instanceType><productDescription>Linux/UNIX</productDescription>
              <spotPrice>0.0350</spotPrice><timestamp>2014-01-05T11:25:22.000Z</timestamp>
              <availabilityZone>us-west-2a</availabilityZone></item>
          </spotPriceHistorySet>
          <nextToken/>
        </DescribeSpotPriceHistoryResponse>
        """

    static func history() throws -> [SpotPrice] {
        let answer = try XMLToJSON.convert(Array(historyXML.utf8))
        return (answer["spotPriceHistorySet"]?.arrayValue ?? []).compactMap(SpotPrice.init(ec2:))
    }

    static func date(_ text: String) -> Date { parseISO8601(text)! }

    @Test("an AWS price history is read point by point: type, zone, product, price, time")
    func parsing() throws {
        let points = try Self.history()
        #expect(points.count == 4)
        #expect(points[0] == SpotPrice(instanceType: "m3.medium", zone: "us-west-2a", product: "Linux/UNIX",
                                       price: 0.0287, timestamp: Self.date("2014-01-06T04:32:53.000Z")))
    }

    @Test("the latest price per zone is the newest point of each zone, whatever the order of the answer")
    func latestPerZone() throws {
        let latest = SpotPrices.latestPerZone(try Self.history().reversed())
        #expect(latest.map(\.zone) == ["us-west-2a", "us-west-2b", "us-west-2c"])
        #expect(latest.map(\.price) == [0.0287, 0.0301, 0.0110])
    }

    @Test("open warns when another zone is much cheaper, naming it; not when the zone is the cheapest or close")
    func advice() throws {
        let latest = SpotPrices.latestPerZone(try Self.history())
        let expensive = SpotPrices.advice(latest, type: "m3.medium", zone: "us-west-2b")
        #expect(expensive.note == "spot price of m3.medium in us-west-2b: $0.0301/h")
        let warning = try #require(expensive.warning)
        #expect(warning.hasPrefix("m3.medium is 63% cheaper in us-west-2c ($0.0110/h) than in us-west-2b ($0.0301/h)"))
        #expect(warning.contains("portal volume move VOL -z us-west-2c"))
        #expect(SpotPrices.advice(latest, type: "m3.medium", zone: "us-west-2c").warning == nil)
        let close = [SpotPrice(instanceType: "t3.micro", zone: "a", price: 1.0, timestamp: Date()),
                     SpotPrice(instanceType: "t3.micro", zone: "b", price: 0.85, timestamp: Date())]
        #expect(SpotPrices.advice(close, type: "t3.micro", zone: "a").warning == nil)
        #expect(SpotPrices.advice(latest, type: "m3.medium", zone: "us-west-2d").note
            == "no spot price known for m3.medium in us-west-2d")
    }

    @Test("the cost so far integrates the price steps over the uptime, from the price in effect at launch")
    func integrate() {
        let t0 = Self.date("2026-12-01T10:00:00.000Z")
        let history = [
            SpotPrice(instanceType: "m5.large", zone: "z", price: 0.10, timestamp: t0.addingTimeInterval(-1800)),
            SpotPrice(instanceType: "m5.large", zone: "z", price: 0.40, timestamp: t0.addingTimeInterval(3600)),
            SpotPrice(instanceType: "m5.large", zone: "z", price: 0.20, timestamp: t0.addingTimeInterval(5400)),
        ]
        // 1 h at 0.10, 0.5 h at 0.40, 1.5 h at 0.20 = 0.10 + 0.20 + 0.30
        let cost = CostEstimate.integrate(history.shuffled(), from: t0, to: t0.addingTimeInterval(3 * 3600))
        #expect(abs(cost.total - 0.60) < 1e-9)
        #expect(cost.pricePerHour == 0.20)
        #expect(cost.changes == 2)
        #expect(cost.hours == 3)
        #expect(cost.basis(type: "m5.large", zone: "z").hasPrefix("estimate: the spot price history of m5.large in z"))
        #expect(CostEstimate.integrate([], from: t0, to: t0.addingTimeInterval(60)).total == 0)
    }

    @Test("a volume's monthly cost: size × the region's rate for its type, plus provisioned IOPS and throughput")
    func storage() {
        var gp3 = Volume(id: "vol-1", sizeGiB: 100, zone: "us-east-1a", type: "gp3", iops: 3000)
        #expect(abs(EBSPricing.monthly(volume: gp3, region: "us-east-1") - 8.0) < 1e-9)
        gp3.iops = 4000
        gp3.throughput = 250
        #expect(abs(EBSPricing.monthly(volume: gp3, region: "us-east-1") - (8.0 + 5.0 + 5.0)) < 1e-9)
        let io1 = Volume(id: "vol-2", sizeGiB: 10, zone: "eu-west-1a", type: "io1", iops: 100)
        #expect(abs(EBSPricing.monthly(volume: io1, region: "eu-west-1") - (1.38 + 7.2)) < 1e-9)
        #expect(EBSPricing.rates(region: "ap-south-1").exact == false)
        #expect(EBSPricing.basis(region: "ap-south-1").contains("us-east-1 (no table for ap-south-1)"))
        #expect(abs(EBSPricing.monthly(snapshotGiB: 20, region: "us-east-1") - 1.0) < 1e-9)
        #expect(dollars(0.6) == "$0.60" && dollars(0.0042) == "$0.0042" && dollars(0) == "$0")
    }

    @Suite struct Move {
        static let old = Volume(id: "vol-0123456789abcdef0", sizeGiB: 200, zone: "us-east-1b", type: "gp3", iops: 6000,
                                tags: ["Name": "data", "created-by": "arn:x", "portal-name": "gpu",
                                       "mount-point": "/data", "aws:backup": "x", "project": "nlp"])

        @Test("the copy is asked with the old volume's size, type, IOPS, throughput, encryption and tags, and a stable token")
        func copyParameters() {
            var old = Self.old
            old.throughput = 500
            old.encrypted = true
            old.kmsKeyID = "arn:aws:kms:us-east-1:1:key/k"
            let p = VolumeMove.copyParameters(of: old, from: "snap-0123456789abcdef0", zone: "us-east-1a", arn: "arn:me")
            #expect(p["AvailabilityZone"] == "us-east-1a" && p["SnapshotId"] == "snap-0123456789abcdef0")
            #expect(p["Size"] == "200" && p["VolumeType"] == "gp3" && p["Iops"] == "6000" && p["Throughput"] == "500")
            #expect(p["Encrypted"] == "true" && p["KmsKeyId"] == "arn:aws:kms:us-east-1:1:key/k")
            #expect(p["ClientToken"] == "portal-move-vol-0123456789abcdef0-us-east-1a")
            #expect(p == VolumeMove.copyParameters(of: old, from: "snap-0123456789abcdef0", zone: "us-east-1a", arn: "arn:me"))
            var tags: [String: String] = [:]
            for i in 1...10 {
                guard let key = p["TagSpecification.1.Tag.\(i).Key"] else { break }
                tags[key] = p["TagSpecification.1.Tag.\(i).Value"]
            }
            #expect(p["TagSpecification.1.ResourceType"] == "volume")
            #expect(tags == ["Name": "data", "created-by": "arn:me", "project": "nlp",
                             "portal-moved-from": "vol-0123456789abcdef0"])
        }

        @Test("an st1 volume is copied without IOPS nor throughput, and unencrypted without a key")
        func plainCopy() {
            let st1 = Volume(id: "vol-0123456789abcdef1", sizeGiB: 500, zone: "us-east-1b", type: "st1", iops: 500)
            let p = VolumeMove.copyParameters(of: st1, from: "snap-1", zone: "us-east-1c", arn: "arn:me")
            #expect(p["Iops"] == nil && p["Throughput"] == nil && p["Encrypted"] == nil && p["KmsKeyId"] == nil)
        }

        @Test("a copy that differs from the original, or is not available, is refused and nothing is deleted")
        func checkCopy() throws {
            var copy = Self.old
            copy.id = "vol-0fedcba9876543210"
            copy.zone = "us-east-1a"
            try VolumeMove.check(copy: copy, of: Self.old)
            copy.sizeGiB = 100
            copy.state = "creating"
            #expect {
                try VolumeMove.check(copy: copy, of: Self.old)
            } throws: { error in
                let message = (error as? Failure)?.message ?? ""
                return message.contains("size 100 GiB, not 200") && message.contains("state creating")
                    && (error as? Failure)?.hints.first?.hasPrefix("nothing was deleted") == true
            }
        }

        @Test("spec files that name the old id are found, with the zone they ask for")
        func specs() throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("move-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let spec = #"{"spot_instance": {"availability_zone": "us-east-1b"}, "persistent_volumes": [{"volume_id": "vol-9"}, {"volume_id": "vol-0123456789abcdef0"}]}"#
            try spec.write(to: folder.appendingPathComponent("gpu.json"), atomically: true, encoding: .utf8)
            try #"{"persistent_volumes": [{"volume_id": "vol-9"}]}"#.write(
                to: folder.appendingPathComponent("cpu.json"), atomically: true, encoding: .utf8)
            try "not json".write(to: folder.appendingPathComponent("broken.json"), atomically: true, encoding: .utf8)
            let found = VolumeMove.specs(naming: "vol-0123456789abcdef0", in: folder.path)
            #expect(found == [VolumeMove.SpecReference(file: folder.appendingPathComponent("gpu.json").path, index: 1,
                                                       zone: "us-east-1b")])
        }
    }
}
