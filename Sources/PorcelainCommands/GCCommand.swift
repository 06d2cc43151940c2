import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Find what you created with Portal Gun that is still there and billing, in every region.",
        discussion: """
            Lists, in every region of the account (or those named with --only), \
            the resources tagged created-by your ARN: live instances (open portals included), \
            spot requests and spot fleets still open or active without a running instance, \
            volumes attached to nothing, and snapshots; each with its monthly cost and the \
            totals at the end. An instance costs its spot price now × 730 hours; volumes and \
            snapshots are priced from Portal Gun's EBS price table (a snapshot at its volume's \
            size, an upper bound). Nothing that is not tagged as yours is listed nor touched, \
            and an attached volume is never deleted.

            --delete deletes them, asking once per kind (--yes: without asking): instances \
            are terminated with their spot request or fleet cancelled, fleets and requests \
            cancelled, volumes and snapshots deleted. It reports what it did.

            Exit status: 0 nothing found (or everything found deleted), 1 something left \
            billing, 64 bad command line (--delete without a terminal nor --yes), 69 AWS \
            unreachable, 77 credentials refused.
            """)

    @Flag(help: "Delete what is found, asking once per kind.")
    var delete = false

    @Flag(name: .shortAndLong, help: "With --delete: delete without asking.")
    var yes = false

    @Option(help: ArgumentHelp("Look only in this region (repeatable); default: every region of the account.",
                               valueName: "region"))
    var only: [String] = []

    @Flag(help: "Print a JSON array of what is found instead of a table.")
    var json = false

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if yes && !delete { throw ValidationError("--yes goes with --delete") }
        for region in only where region.wholeMatch(of: #/[a-z]{2}(-[a-z]+)+-[0-9]/#) == nil {
            throw ValidationError("invalid region '\(region)': expected a region such as eu-west-1")
        }
    }

    func run() throws {
        try Report.run {
            let interactive = Terminal.stdinIsTerminal && Terminal.stderrIsTerminal
            if delete && !yes && !interactive {
                throw Failure("--delete asks before each kind, and there is no terminal to ask on", status: .usage,
                              hints: ["add --yes to delete without asking"])
            }
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            let collector = GarbageCollector(configuration: cloud.client.configuration, arn: try cloud.callerARN(),
                                             progress: cloud.progress)
            let regions = only.isEmpty ? try collector.regions() : only
            cloud.progress("looking in \(regions.count) region\(regions.count == 1 ? "" : "s")")
            let (found, failures) = collector.scan(regions: regions)
            CommandIO.statusLine.finish()
            for (region, error) in failures { Report.warning("\(region): not looked at: \(error)") }
            if json {
                Terminal.writeDocument(.array(found.map(\.json)))
            } else if found.isEmpty {
                if !output.quiet { Terminal.stderr("portal: nothing of yours left in \(regions.count) region(s)") }
            } else {
                Terminal.stdout(Self.table(found))
            }
            guard delete, !found.isEmpty else {
                if !found.isEmpty { throw ExitCode(ExitStatus.failure.rawValue) }
                return
            }
            var left = 0
            for kind in Leftover.Kind.allCases {
                let items = found.filter { $0.kind == kind }
                guard !items.isEmpty else { continue }
                let label = items.count == 1 ? kind.rawValue : kind.plural
                if !yes {
                    StandardStreams.stderr("portal: delete \(items.count) \(label)? [y/N] ")
                    guard ["y", "yes"].contains(readLine()?.trimming(\.isBlank).lowercased() ?? "") else {
                        left += items.count
                        continue
                    }
                }
                for (item, error) in collector.delete(items) {
                    if let error {
                        left += 1
                        Report.error("\(item.kind.rawValue) \(item.id) (\(item.region)): \(error)")
                    } else {
                        Terminal.stderr("portal: deleted \(item.kind.rawValue) \(item.id) (\(item.region))")
                    }
                }
            }
            if left > 0 {
                Terminal.stderr("portal: \(left) left")
                throw ExitCode(ExitStatus.failure.rawValue)
            }
        }
    }

    static func table(_ found: [Leftover]) -> String {
        let rows = found.map { [$0.region, $0.kind.rawValue, $0.id, $0.detail, $0.monthly.map(dollars) ?? "?"] }
        let total = found.compactMap(\.monthly).reduce(0, +)
        let regions = Set(found.map(\.region)).count
        var text = Table.render(header: ["REGION", "KIND", "ID", "WHAT", "$/MONTH"], rows: rows)
        var counts: [String] = []
        for kind in Leftover.Kind.allCases {
            let n = found.filter { $0.kind == kind }.count
            if n > 0 { counts.append("\(n) \(n == 1 ? kind.rawValue : kind.plural)") }
        }
        text += "total: \(counts.joined(separator: ", ")) in \(regions) region\(regions == 1 ? "" : "s"): "
            + "\(dollars(total))/month\n"
        text += "  (instances at their spot price now × 730 h; storage from \(EBSPricing.citation); "
            + "snapshots at their volume's size, an upper bound)\n"
        return text
    }
}
