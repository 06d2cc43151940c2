import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

struct PricesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "Show the latest spot price of instance types in every zone of the region.",
        discussion: """
            One line per type and zone: the price per hour (Linux/UNIX) and when it was set, \
            from EC2's spot price history (DescribeSpotPriceHistory). A zone that holds volumes \
            of yours is marked with *, and the volumes are named: EBS volumes attach only in \
            their own zone, so a portal that uses them runs there (or 'portal volume move' \
            moves them). --json prints an array of objects with the keys instance_type, zone, \
            price, timestamp, product, cheapest (true for the type's cheapest zone) and \
            your_volumes.

            Exit status: 0 success, 1 failed, 64 bad command line, 69 AWS unreachable, 77 \
            credentials refused.
            """)

    @Argument(help: ArgumentHelp("Instance types, such as m5.large p3.2xlarge.", valueName: "type"))
    var types: [String]

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            for type in types where type.wholeMatch(of: #/[a-z][a-z0-9-]*\.[a-z0-9-]+/#) == nil {
                throw Failure("invalid instance type '\(type)': expected a family and a size, such as m5.large",
                              status: .usage)
            }
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            let latest = try SpotPrices(client: cloud.client).latest(types: types)
            var held: [String: [String]] = [:]
            for volume in try Volumes(client: cloud.client).list() { held[volume.zone, default: []].append(volume.id.rawValue) }
            let cheapest = Dictionary(grouping: latest, by: \.instanceType).mapValues { $0.map(\.price).min() ?? 0 }
            if json {
                Terminal.writeDocument(.array(latest.map { point in
                    var object = point.json.objectValue ?? JSONObject()
                    object["cheapest"] = .bool(point.price == cheapest[point.instanceType])
                    object["your_volumes"] = .array((held[point.zone] ?? []).map(JSON.string))
                    return .object(object)
                }))
                return
            }
            let region = cloud.client.configuration.region
            for type in types where !latest.contains(where: { $0.instanceType == type }) {
                Report.warning("no spot price for \(type) in \(region): not offered as a Spot Instance there?")
            }
            guard !latest.isEmpty else { throw ExitCode(ExitStatus.failure.rawValue) }
            let rows = latest.map { point in
                [point.instanceType, point.zone + (held[point.zone] == nil ? "" : " *"),
                 cFormat("%.4f", point.price) + (point.price == cheapest[point.instanceType] ? " (cheapest)" : ""),
                 point.json["timestamp"]?.stringValue ?? ""]
            }
            Terminal.stdout(Table.render(header: ["TYPE", "ZONE", "$/HOUR", "SINCE"], rows: rows))
            for zone in held.keys.sorted() where latest.contains(where: { $0.zone == zone }) {
                Terminal.stdout("* \(zone) holds your volume\(held[zone]!.count == 1 ? "" : "s") "
                    + held[zone]!.joined(separator: ", ") + "\n")
            }
        }
    }
}

extension PricesCommand {
    /// What `portal open` says before it requests: the spot price in the
    /// portal's zone, and a warning when another zone is much cheaper. A price
    /// that cannot be read is a note, never a reason not to open.
    static func announce(_ spec: PortalSpec, cloud: PortalCloud, quiet: Bool) {
        let type = spec.spotInstance.instanceType, zone = spec.spotInstance.availabilityZone
        do {
            let advice = SpotPrices.advice(try SpotPrices(client: cloud.client).latest(types: [type]), type: type, zone: zone)
            if let note = advice.note { cloud.progress(note) }
            if let warning = advice.warning, !quiet { Report.warning(warning) }
        } catch {
            cloud.progress("spot price of \(type) not known: \(error)")
        }
    }
}
