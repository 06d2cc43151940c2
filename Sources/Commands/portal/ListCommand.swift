import ArgumentParser
import Foundation
import PortalBase
import PortalCLI
import PortalCore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List your open portals: name, instance, type, zone, state, uptime, price and cost so far.",
        discussion: """
            The cost since launch is an estimate: the spot price history of the type in the \
            zone integrated over the uptime (DescribeSpotPriceHistory); '-' when it cannot be \
            read. --json adds price_per_hour and cost_since_launch to each instance.
            """)

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            let cloud = try Stage.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            let instances = try cloud.openInstances()
            let costs = instances.map { try? cloud.costSoFar($0) }
            if json {
                Terminal.writeDocument(.array(zip(instances, costs).map { instance, cost in
                    var object = instance.json
                    object["name"] = .string(instance.portalName ?? "")
                    object["price_per_hour"] = cost?.pricePerHour.map(JSON.double) ?? .null
                    object["cost_since_launch"] = cost.map { JSON.double($0.total) } ?? .null
                    return object
                }))
                return
            }
            if instances.isEmpty {
                if !output.quiet { Terminal.stderr("portal: no open portals") }
                return
            }
            let rows = zip(instances, costs).map { i, cost in
                [i.portalName ?? "-", i.id, i.type, i.zone, i.state, i.uptime.map(humanDuration) ?? "-",
                 cost?.pricePerHour.map { String(format: "%.4f", $0) } ?? "-", cost.map { dollars($0.total) } ?? "-"]
            }
            Terminal.stdout(Table.render(header: ["NAME", "INSTANCE", "TYPE", "ZONE", "STATE", "UPTIME", "$/HOUR", "COST (EST.)"],
                                         rows: rows))
        }
    }
}
