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
            // Portals AWS took back lately (and not reopened): said so, not left out.
            let open = Set(instances.compactMap(\.portalName))
            let interrupted = ((try? cloud.lastEndings()) ?? [:]).filter { !open.contains($0.key) && $0.value.interruptedByAWS }
                .sorted { $0.key < $1.key }
            if json {
                Terminal.writeDocument(.array(instances.map { instance in
                    var object = instance.json
                    object["name"] = .string(instance.portalName ?? "")
                    object["deadline"] = instance.deadline.map { .string(Ending.iso($0)) } ?? .null
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
            let rows = instances.map { i in
                [i.portalName ?? "-", i.id, i.type, i.zone, i.state, i.uptime.map(humanDuration) ?? "-"]
            } + interrupted.map { name, ending in
                [name, ending.instanceID, "-", "-", "interrupted by AWS" + (ending.time.map { " at \($0)" } ?? ""), "-"]
            }
            Terminal.stdout(Table.render(header: ["NAME", "INSTANCE", "TYPE", "ZONE", "STATE", "UPTIME"], rows: rows))
        }
    }
}
