import ArgumentParser
import Foundation
import PortalBase
import PortalCLI
import PortalCore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List your open portals: name, instance, type, zone, state, uptime.")

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            let cloud = try Stage.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            let instances = try cloud.openInstances()
            if json {
                Terminal.writeDocument(.array(instances.map { instance in
                    var object = instance.json
                    object["name"] = .string(instance.portalName ?? "")
                    return object
                }))
                return
            }
            if instances.isEmpty {
                if !output.quiet { Terminal.stderr("portal: no open portals") }
                return
            }
            let rows = instances.map { i in
                [i.portalName ?? "-", i.id, i.type, i.zone, i.state, i.uptime.map(humanDuration) ?? "-"]
            }
            Terminal.stdout(Table.render(header: ["NAME", "INSTANCE", "TYPE", "ZONE", "STATE", "UPTIME"], rows: rows))
        }
    }
}
