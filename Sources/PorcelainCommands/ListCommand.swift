import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

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
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            let instances = try cloud.openInstances()
            let costs = instances.map { try? cloud.costSoFar($0) }
            // Portals AWS took back lately (and not reopened): said so, not left out.
            let open = Set(instances.compactMap(\.portalName))
            let interrupted = ((try? cloud.lastEndings()) ?? [:]).filter { !open.contains($0.key) && $0.value.interruptedByAWS }
                .sorted { $0.key < $1.key }
            if json {
                Terminal.writeDocument(.array(zip(instances, costs).map { instance, cost in
                    var object = instance.json
                    object["name"] = .string(instance.portalName ?? "")
                    object["deadline"] = instance.deadline.map { .string(Ending.iso($0)) } ?? .null
                    object["price_per_hour"] = cost?.pricePerHour.map(JSON.double) ?? .null
                    object["cost_since_launch"] = cost.map { JSON.double($0.total) } ?? .null
                    return object
                } + interrupted.map { name, ending in
                    ["name": .string(name), "id": .string(ending.instanceID), "state": .string(ending.state), "ended": ending.json]
                }))
                return
            }
            if instances.isEmpty && interrupted.isEmpty {
                if !output.quiet { Terminal.stderr("portal: no open portals") }
                return
            }
            let rows = zip(instances, costs).map { i, cost in
                [i.portalName ?? "-", i.id.rawValue, i.type, i.zone, i.state, i.uptime.map(humanDuration) ?? "-",
                 cost?.pricePerHour.map { cFormat("%.4f", $0) } ?? "-", cost.map { dollars($0.total) } ?? "-"]
            } + interrupted.map { name, ending in
                [name, ending.instanceID, "-", "-", "interrupted by AWS" + (ending.time.map { " at \($0)" } ?? ""), "-", "-", "-"]
            }
            Terminal.stdout(Table.render(header: ["NAME", "INSTANCE", "TYPE", "ZONE", "STATE", "UPTIME", "$/HOUR", "COST (EST.)"],
                                         rows: rows))
        }
    }
}
