import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a portal: open or closed, its instance, its volumes, how to connect.",
        discussion: """
            With -f FIELD, print just that value, for scripts (as Portal Gun always did): \
            name, status (open or close, Portal Gun 0.x's words), id, type, user, host, ip, remote (user@host), key \
            (the identity file). A field with no value (the id of a closed portal) prints \
            nothing and exits 1.
            """)

    enum Field: String, ExpressibleByArgument, CaseIterable {
        case name, status, id, type, user, host, ip, remote, key
    }

    @OptionGroup var portal: PortalName

    @Option(name: .shortAndLong, help: ArgumentHelp("Print only this field.", valueName: "FIELD"))
    var field: Field?

    @Flag(help: "Print the portal as JSON.")
    var json = false

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            let document = try Porcelain.document(portal.name, checkFiles: false)
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: true)
            let instance = try cloud.findInstance(portal: document.name)
            var located = document
            located.instance = instance
            let target = instance == nil ? nil : try? SSHTarget(document: located)
            let spec = document.spec
            if let field {
                let value: String? = switch field {
                case .name: document.name
                case .status: instance == nil ? "close" : "open"
                case .id: instance?.id.rawValue
                case .type: instance?.type ?? spec.spotInstance.instanceType
                case .user: spec.spotInstance.remoteUser
                case .host: target?.host
                case .ip: instance?.publicIP
                case .remote: target?.destination
                case .key: spec.spotInstance.identityFile
                }
                guard let value, !value.isEmpty else { throw ExitCode(ExitStatus.failure.rawValue) }
                Terminal.stdout(value + "\n")
                return
            }
            let volumes = try instance == nil ? [] : cloud.describeVolumes(of: spec)
            let cost = instance.flatMap { try? cloud.costSoFar($0) }
            let region = cloud.client.configuration.region
            let storage = volumes.reduce(0) { $0 + EBSPricing.monthly(volume: $1, region: region) }
            if json {
                var object = JSONObject()
                object["name"] = .string(document.name)
                object["status"] = .string(instance == nil ? "closed" : "open")
                object[DocumentKey.instance] = instance?.json ?? .null
                object["deadline"] = instance?.deadline.map { .string(Ending.iso($0)) } ?? .null
                if instance == nil { object["ended"] = (try? cloud.lastEnding(portal: document.name))??.json ?? .null }
                object["volumes"] = .array(zip(spec.persistentVolumes, volumes).map { wanted, volume in
                    [DocumentKey.volumeID: wanted.volumeID.json, "device": .string(wanted.device),
                     "mount_point": .string(wanted.mountPoint),
                     "name": volume.tags[Tag.name].map(JSON.string) ?? .null,
                     "size_gib": .int(Int64(volume.sizeGiB)),
                     "state": .string(volume.state),
                     "attached_to": volume.instanceID?.json ?? .null]
                })
                if let instance {
                    object["cost"] = [
                        "price_per_hour": cost?.pricePerHour.map(JSON.double) ?? .null,
                        "since_launch": cost.map { .double($0.total) } ?? .null,
                        "since_launch_basis": cost.map { .string($0.basis(type: instance.type, zone: instance.zone)) } ?? .null,
                        "volumes_per_month": .double(storage),
                        "volumes_basis": .string(EBSPricing.basis(region: region)),
                    ]
                }
                if let target {
                    object["ssh"] = ["host": .string(target.host), "port": .int(Int64(target.port)),
                                     "user": .string(target.user), "identity_file": .string(target.identityFile)]
                }
                Terminal.writeDocument(.object(object))
                return
            }
            guard let instance else {
                let ending = try? cloud.lastEnding(portal: document.name)
                Terminal.stdout("portal '\(document.name)': closed" + (ending.map { "; \($0.instanceID) \($0.summary)" } ?? "")
                    + "\n  open it with: portal open \(document.name)\n")
                return
            }
            var lines = ["portal '\(document.name)': open"]
            lines.append("  instance  \(instance.id)  \(instance.type) in \(instance.zone), \(instance.state)"
                + (instance.uptime.map { " for \(humanDuration($0))" } ?? "") + " (\(instance.lifecycle ?? "?"))")
            if let deadline = instance.deadline {
                lines.append("  deadline  \(Ending.iso(deadline)): \(humanDuration(max(0, deadline.timeIntervalSinceNow))) left"
                    + "  (portal extend \(document.name) 1h moves it)")
            }
            if let ip = instance.publicIP { lines.append("  address   \(instance.publicDNS ?? ip)  \(ip)") }
            for (wanted, volume) in zip(spec.persistentVolumes, volumes) {
                let state = volume.attachments.first?.state ?? (volume.state.isEmpty ? "?" : volume.state)
                let name = volume.tags[Tag.name].map { "\($0), " } ?? ""
                let size = "\(volume.sizeGiB) GiB, "
                lines.append("  volume    \(wanted.volumeID)  \(wanted.device) -> \(wanted.mountPoint)  (\(name)\(size)\(state))")
            }
            if let cost {
                lines.append("  cost      " + (cost.pricePerHour.map { "\(perHour($0)) now, " } ?? "")
                    + "\(dollars(cost.total)) since launch (\(cost.basis(type: instance.type, zone: instance.zone)))")
            }
            if !volumes.isEmpty {
                lines.append("  storage   \(dollars(storage))/month for the volumes (\(EBSPricing.basis(region: region)))")
            }
            if let target {
                lines.append("  ssh       portal ssh \(document.name)   (\(target.destination), port \(target.port), key \(target.identityFile))")
            }
            Terminal.stdout(lines.joined(separator: "\n") + "\n")
        }
    }
}
