import PortalBase
import PortalModel

/// What storage costs: the one table of EBS prices Portal Gun uses, for the
/// monthly cost of volumes and snapshots (`portal info`, `portal gc`).
///
/// Source: the Amazon EBS pricing page (aws.amazon.com/ebs/pricing), prices
/// per GiB-month in US dollars. The us-east-1 figures are AWS's list prices
/// since gp3 came out (December 2020); the eu-west-1 and eu-central-1 rows are
/// less sure. The table was written without network access, so `date` is when
/// it was written, not a checked publication date: compare with the page
/// before relying on it. Regions not listed here are priced as us-east-1, and
/// say so. AWS bills by the second; a "month" here is 730 hours.
public enum EBSPricing {
    /// The date of the table, shown wherever a cost from it is.
    public static let date = "2026-12-01"
    public static let source = "aws.amazon.com/ebs/pricing"
    public static let hoursPerMonth = 730.0

    public struct Rates: Sendable {
        /// $ per GiB-month, by volume type.
        public var perGiB: [String: Double]
        /// Provisioned IOPS: io1 per IOPS-month; gp3 above its free 3000.
        public var io1IOPS: Double
        public var io2IOPS: Double
        public var gp3IOPS: Double
        /// gp3 throughput above its free 125 MiB/s, per MiB/s-month.
        public var gp3Throughput: Double
        /// Standard-tier snapshots, per GiB-month of data stored.
        public var snapshotPerGiB: Double
    }

    static let usEast1 = Rates(
        perGiB: ["gp3": 0.08, "gp2": 0.10, "io1": 0.125, "io2": 0.125, "st1": 0.045, "sc1": 0.015, "standard": 0.05],
        io1IOPS: 0.065, io2IOPS: 0.065, gp3IOPS: 0.005, gp3Throughput: 0.04, snapshotPerGiB: 0.05)

    static let table: [String: Rates] = [
        "us-east-1": usEast1,
        "us-east-2": usEast1,
        "us-west-2": usEast1,
        "eu-west-1": Rates(
            perGiB: ["gp3": 0.088, "gp2": 0.11, "io1": 0.138, "io2": 0.138, "st1": 0.05, "sc1": 0.0168,
                     "standard": 0.055],
            io1IOPS: 0.072, io2IOPS: 0.072, gp3IOPS: 0.0055, gp3Throughput: 0.044, snapshotPerGiB: 0.05),
        "eu-central-1": Rates(
            perGiB: ["gp3": 0.0952, "gp2": 0.119, "io1": 0.149, "io2": 0.149, "st1": 0.054, "sc1": 0.018,
                     "standard": 0.059],
            io1IOPS: 0.078, io2IOPS: 0.078, gp3IOPS: 0.006, gp3Throughput: 0.048, snapshotPerGiB: 0.054),
    ]

    /// The region's rates, and whether they are its own (else us-east-1's).
    public static func rates(region: String) -> (rates: Rates, exact: Bool) {
        if let rates = table[region] { return (rates, true) }
        return (usEast1, false)
    }

    /// A volume's monthly cost: size × the type's rate, plus provisioned IOPS
    /// and throughput beyond what the type includes.
    public static func monthly(volume: Volume, region: String) -> Double {
        let rates = rates(region: region).rates
        var cost = Double(volume.sizeGiB) * (rates.perGiB[volume.type] ?? rates.perGiB["gp3"]!)
        let iops = Double(volume.iops ?? 0)
        switch volume.type {
        case "io1": cost += iops * rates.io1IOPS
        case "io2": cost += iops * rates.io2IOPS
        case "gp3":
            cost += max(iops - 3000, 0) * rates.gp3IOPS
            cost += max(Double(volume.throughput ?? 125) - 125, 0) * rates.gp3Throughput
        default: break
        }
        return cost
    }

    /// A snapshot's monthly cost at most: its volume's size (a first snapshot
    /// stores only the blocks written, so it is often less).
    public static func monthly(snapshotGiB: Int, region: String) -> Double {
        Double(snapshotGiB) * rates(region: region).rates.snapshotPerGiB
    }

    /// The table itself, for people.
    public static var citation: String { "Portal Gun's EBS price table (\(source), \(date))" }

    /// How a figure was made, for people.
    public static func basis(region: String) -> String {
        let own = rates(region: region).exact ? region : "us-east-1 (no table for \(region))"
        return "EBS prices of \(own) from \(source), \(date)"
    }
}

/// `$0.0110/h`: a price per hour, to the digits AWS gives.
public func perHour(_ price: Double) -> String { cFormat("$%.4f/h", price) }

/// `$1.23`, `$0.0042`: dollars with the digits that matter.
public func dollars(_ amount: Double) -> String {
    if amount == 0 { return "$0" }
    if amount < 0.01 { return cFormat("$%.4f", amount) }
    if amount < 100 { return cFormat("$%.2f", amount) }
    return cFormat("$%.0f", amount)
}
