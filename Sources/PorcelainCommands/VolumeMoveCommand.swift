import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

extension VolumeCommand {
    struct Move: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a volume to another availability zone, through a snapshot.",
            discussion: """
                Snapshots the volume and waits (with progress), creates a copy in ZONE from the \
                snapshot with the same size, type, IOPS, throughput, encryption and tags (plus \
                portal-moved-from), checks that the copy is available and matches, tags the old \
                volume portal-moved-to, then asks before deleting the old volume and the \
                snapshot (--yes deletes without asking; without a terminal nor --yes both are \
                kept). Prints the new volume's id on stdout.

                Refused while the volume is attached. A rerun after Ctrl-C or a crash continues \
                from what exists, found by its tags; nothing is deleted before its copy is \
                available. The spec files (*.json in the current folder, or in --specs) that \
                name the old id are listed with the new id to put in.
                """)

        @Argument(help: ArgumentHelp("The volume to move.", valueName: "volume-id"))
        var volumeID: String

        @Option(name: .shortAndLong, help: ArgumentHelp("The availability zone to move it to.", valueName: "zone"))
        var zone: String

        @Flag(name: .shortAndLong, help: "Delete the old volume and the snapshot without asking.")
        var yes = false

        @Option(help: ArgumentHelp("The folder of spec files to look through (default: the current folder).",
                                   valueName: "folder"))
        var specs: String = "."

        @OptionGroup var options: VolumeCommonOptions

        func run() throws {
            try Report.run {
                let id = try VolumeInput.volumeID(volumeID)
                guard zone.wholeMatch(of: #/[a-z]{2}(-[a-z]+)+-[0-9][a-z]/#) != nil else {
                    throw Failure("invalid availability zone '\(zone)': expected a zone such as us-east-1a", status: .usage)
                }
                Interruption.install()
                let interactive = Terminal.stdinIsTerminal && Terminal.stderrIsTerminal
                let move = VolumeMove(volumes: try options.volumes())
                let outcome: VolumeMove.Outcome
                do {
                    outcome = try move.move(id, to: zone) { question in
                        if yes { return true }
                        guard interactive else { return false }
                        CommandIO.statusLine.finish()
                        StandardStreams.stderr("\(Report.program): \(question) [y/N] ")
                        return ["y", "yes"].contains(readLine()?.trimming(\.isBlank).lowercased() ?? "")
                    }
                } catch let failure as PortalFailure where failure.exitStatus == .interrupted {
                    throw Failure("interrupted: nothing was deleted", status: .interrupted,
                                  hints: ["'portal volume move \(id) -z \(zone)' continues from where it stopped"])
                }
                Terminal.stdout(outcome.new.id.rawValue + "\n")
                options.log("moved '\(id)' to \(outcome.new.summary)")
                if !outcome.deleted {
                    options.log("kept '\(id)'" + (outcome.snapshotID.map { " and the snapshot \($0)" } ?? "")
                        + ": 'portal volume move \(id) -z \(zone) --yes' deletes them")
                }
                for reference in VolumeMove.specs(naming: id.rawValue, in: specs) {
                    var line = "\(reference.file): persistent_volumes[\(reference.index)].volume_id: put \(outcome.new.id) for \(id)"
                    if let specZone = reference.zone, specZone != zone {
                        line += ", and spot_instance.availability_zone: \(zone) for \(specZone)"
                    }
                    options.log(line)
                }
            }
        }
    }
}
