import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal volume create | list | update | delete`: the persistent EBS volumes
/// that keep a portal's data. The logic lives in PortalCore/Volumes.swift (and PortalModel/Volume.swift).
struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Create, list, update, delete and move the EBS volumes that keep your data across portals.",
        discussion: """
            A volume is an EBS volume that outlives every instance: a portal whose spec names \
            it in persistent_volumes gets it attached and mounted on every open, and finds \
            everything as it was left. 'portal open' and 'portal close' never delete a volume, \
            nor does anything else in Portal Gun: only 'portal volume delete' does.

            Portal Gun tags each volume it creates with Name and created-by (your ARN), and, \
            while a portal holds it, with portal-name and mount-point. list, update and delete \
            act on your own volumes only, unless -a or -f says otherwise.

            Examples:
              portal volume create -n data -s 100 -z us-east-1a
              portal volume list
              portal volume update vol-0123456789abcdef0 -s 200
              portal volume delete vol-0123456789abcdef0

            Exit status: 0 success, 1 failed (not found, not yours, in use), 64 bad command \
            line, 65 a volume cannot shrink, 69 AWS unreachable, 74 stdout could not be written, \
            75 temporary, 77 credentials refused.
            """,
        subcommands: [Create.self, List.self, Update.self, Delete.self, Move.self])
}

/// Options every `portal volume` subcommand takes.
struct VolumeCommonOptions: ParsableArguments {
    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    var verbose: Bool { output.verbose }
    var quiet: Bool { output.quiet }

    /// A plain line on stderr (unless -q): these are results, not a status to rewrite.
    func log(_ line: String) {
        if !output.quiet { Terminal.stderr("\(Report.program): \(line)") }
    }

    func volumes() throws -> Volumes {
        let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: output.quiet)
        return Volumes(client: cloud.client, progress: cloud.progress)
    }
}

extension VolumeCommand {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a volume and print its id.",
            discussion: """
                Prints the new volume's id on stdout, alone, for scripts; progress goes to \
                stderr. The volume is tagged Name (with -n), created-by (your ARN) and the -t \
                tags, and is ready (available) when the command ends.

                Asks on stdin for what is missing, as Portal Gun 0.x did, terminal or not: the \
                name, the size and the availability zone (on a terminal, offering the region's zones); an empty \
                answer takes the default. At the end of stdin the name is none and the size 50 GiB \
                (with -S, the snapshot's), but a zone must be given. A zone outside the region is \
                refused before anything is created.
                """)

        @Option(name: .shortAndLong, help: "The volume's name (its Name tag).")
        var name: String?

        @Option(name: .shortAndLong, help: ArgumentHelp(
            "The size in GiB, 1 to 16384 (default: 50; 125 for st1 and sc1; with -S, the snapshot's).",
            valueName: "GiB"))
        var size: String?

        @Option(name: .shortAndLong, help: ArgumentHelp(
            "The availability zone, such as us-east-1a; the instances of the portals that use the volume must run in the same zone.",
            valueName: "zone"))
        var zone: String?

        @Option(name: [.customShort("S"), .long], help: ArgumentHelp(
            "Create the volume from this snapshot (snap-…).", valueName: "snapshot-id"))
        var snapshot: String?

        @Option(name: [.customShort("t"), .customLong("tags")], parsing: .upToNextOption,
                help: ArgumentHelp("Tags key:value, one or more after one -t (repeatable); a value may be empty or hold colons.",
                                   valueName: "key:value"))
        var tag: [String] = []

        @Option(help: ArgumentHelp(
            "The volume type: \(VolumeType.allCases.map(\.rawValue).joined(separator: ", ")).",
            valueName: "type"))
        var type: String = VolumeType.default.rawValue

        @Option(parsing: .unconditional, help: ArgumentHelp("Provisioned IOPS (needed for io1 and io2; gp3 has 3000 without it).",
                                   valueName: "n"))
        var iops: Int?

        @Flag(help: "Print the id as soon as AWS accepts the request, without waiting until the volume is available.")
        var noWait = false

        @OptionGroup var options: VolumeCommonOptions

        func run() throws {
            try Report.run {
                // Everything given is checked before any AWS call, and before any question.
                let type = try VolumeInput.type(self.type)
                var size = try self.size.map { try VolumeInput.size($0, type: type) }
                let snapshot = try self.snapshot.map(VolumeInput.snapshotID)
                var (name, tags) = try VolumeInput.tags(tag, name: self.name)
                let iops = try VolumeInput.iops(self.iops, type: type)
                let volumes = try options.volumes()
                if let zone = self.zone { try VolumeInput.check(zone: zone, region: volumes.region) }
                var zone = self.zone
                // As Portal Gun 0.x did with input(): asked on stdin, terminal or not.
                do {
                    if name == nil {
                        let answer = try VolumePrompt.ask("name (optional)")
                        name = answer.isEmpty ? nil : answer
                    }
                    if size == nil {
                        let fallback = snapshot == nil ? String(type.defaultSizeGiB) : "the snapshot's"
                        size = try VolumePrompt.ask("size in GiB", default: fallback) { answer in
                            answer == fallback && snapshot != nil ? nil : try VolumeInput.size(answer, type: type)
                        }
                    }
                } catch is VolumePrompt.EndOfInput {
                    // No more answers: the defaults.
                }
                do {
                    if zone == nil {
                        // A person is offered the region's zones; a script's answer is checked
                        // without a call, so that no answer costs no call either.
                        let zones = Terminal.stdinIsTerminal ? try volumes.availabilityZones() : []
                        let offered = zones.isEmpty ? "" : " (\(zones.joined(separator: ", ")))"
                        zone = try VolumePrompt.ask("availability zone" + offered, default: zones.first) { answer in
                            guard !answer.isEmpty else { throw Failure("an availability zone is needed", status: .usage) }
                            if zones.isEmpty { try VolumeInput.check(zone: answer, region: volumes.region) }
                            guard zones.isEmpty || zones.contains(answer) else {
                                throw Failure("unknown zone '\(answer)': expected one of \(zones.joined(separator: ", "))",
                                              status: .usage)
                            }
                            return answer
                        }
                    }
                } catch is VolumePrompt.EndOfInput {
                    throw Failure("missing availability zone: give one with -z ZONE, such as -z \(volumes.region)a",
                                  status: .usage,
                                  hints: ["'portal-ec2 DescribeAvailabilityZones' lists the zones of the region"])
                }
                if size == nil && snapshot == nil { size = type.defaultSizeGiB }
                let request = VolumeRequest(name: name, sizeGiB: size, zone: zone ?? "", type: type, iops: iops,
                                            snapshotID: snapshot, tags: tags)
                let volume = try volumes.create(request, wait: !noWait)
                Terminal.stdout(volume.id.rawValue + "\n")
                options.log("created \(volume.summary)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List your volumes: size, zone, state, and the portal that holds each.",
            discussion: """
                By default only the volumes you created with Portal Gun (tag created-by = your \
                ARN); -a lists every volume of the region. The table shows each volume's id, \
                name, size, zone, state, the instance it is attached to, the portal that \
                attached it and where it is mounted ('-' for nothing). --json prints an array \
                of objects instead, with the keys volume_id, name, size_gib, zone, state, type, \
                iops, instance_id, device, portal, mount_point, created_by, snapshot_id, \
                create_time and tags (null when empty).
                """)

        @Flag(name: .shortAndLong, help: "List every volume of the region, not only yours.")
        var all = false

        @Flag(help: "Print a JSON array of objects instead of a table.")
        var json = false

        @OptionGroup var options: VolumeCommonOptions

        func run() throws {
            try Report.run {
                let volumes = try options.volumes().list(all: all)
                if volumes.isEmpty {
                    options.log(all ? "no volumes in this region" : "no volumes; create one with 'portal volume create'")
                }
                if json {
                    Terminal.writeDocument(.array(volumes.map(\.json)))
                } else if !volumes.isEmpty {
                    Terminal.stdout(Volume.table(volumes))
                }
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename, grow or tag a volume.",
            discussion: """
                -s grows the volume (EC2 ModifyVolume); an EBS volume cannot shrink, and a \
                smaller size is refused (exit 65) before anything changes. The next 'portal open' \
                (portal-mount) grows its file system to match. AWS allows one size change per \
                volume every 6 hours. Only your own volumes, unless -f. Nothing to change (no \
                option, or the values it has already) is said, and exits 0.
                """)

        @Argument(help: ArgumentHelp("The volume to update.", valueName: "volume-id"))
        var volumeID: String?

        @Option(name: .shortAndLong, help: "The new name (the Name tag).")
        var name: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("The new size in GiB: at least the current size.",
                                                         valueName: "GiB"))
        var size: String?

        @Option(name: [.customShort("t"), .customLong("tags")], parsing: .upToNextOption,
                help: ArgumentHelp("Tags key:value to add or change, one or more after one -t (repeatable).",
                                   valueName: "key:value"))
        var tag: [String] = []

        /// `-t a:b vol-…`: -t takes every word up to the next option, as
        /// Portal Gun 0.x's did; a last word without a colon is the volume.
        var arguments: (volumeID: String, tags: [String])? {
            if let volumeID { return (volumeID, tag) }
            guard let last = tag.last, !last.contains(":") else { return nil }
            return (last, Array(tag.dropLast()))
        }

        func validate() throws {
            if arguments == nil { throw ValidationError("Missing expected argument '<volume-id>'") }
        }

        @Flag(name: .shortAndLong, help: "Update the volume even if you did not create it.")
        var force = false

        @OptionGroup var options: VolumeCommonOptions

        func run() throws {
            try Report.run {
                guard let (volumeID, tag) = arguments else { return }
                let id = try VolumeInput.volumeID(volumeID)
                let size = try self.size.map { try VolumeInput.size($0) }
                let (name, tags) = try VolumeInput.tags(tag, name: self.name)
                let change = VolumeChange(name: name, sizeGiB: size, tags: tags)
                guard !change.isEmpty else {
                    options.log("nothing to update: '\(id)' is left as it is (-n NAME, -s SIZE and -t key:value change it)")
                    return
                }
                let update = try options.volumes().update(id, change, force: force)
                let volume = update.volume
                if let resized = update.resized {
                    options.log("grew '\(id)' from \(resized.from) GiB to \(resized.to) GiB; the next 'portal open' grows its file system")
                } else if update.tagged.isEmpty {
                    options.log("nothing to change: '\(id)' already has the size and tags given")
                }
                if !update.tagged.isEmpty {
                    let written = update.tagged.map { "\($0)=\(volume.tags[$0] ?? "")" }
                    options.log("tagged '\(id)': \(written.joined(separator: ", "))")
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete volumes, and the data on them, for good.",
            discussion: """
                Asks no question, so that scripts can use it; says on stderr what it deleted. \
                Every volume named is checked first, and nothing is deleted unless all may go: \
                each must exist, be yours (unless -f) and be attached to nothing (close the \
                portal that holds it first).
                """)

        @Argument(help: ArgumentHelp("The volumes to delete.", valueName: "volume-id"))
        var volumeIDs: [String]

        @Flag(name: .shortAndLong, help: "Delete the volumes even if you did not create them.")
        var force = false

        @OptionGroup var options: VolumeCommonOptions

        func run() throws {
            try Report.run {
                let ids = try volumeIDs.map(VolumeInput.volumeID)
                let volumes = try options.volumes()
                let plan = try volumes.planDeletion(ids, force: force)
                if let last = plan.refusals.last {
                    // Every refusal, then their advice once, after the last.
                    for refusal in plan.refusals.dropLast() { Report.error(refusal.message) }
                    var hints: [String] = []
                    for hint in plan.refusals.flatMap(\.hints) where !hints.contains(hint) { hints.append(hint) }
                    if !plan.volumes.isEmpty { hints.append("nothing was deleted") }
                    throw Failure(last.message, status: last.exitStatus, hints: hints)
                }
                try volumes.delete(plan.volumes)
            }
        }
    }
}

/// Questions on stderr, answered on stdin, for `portal volume create`.
enum VolumePrompt {
    /// stdin ended before the answer.
    struct EndOfInput: Error {}

    /// Asks until the answer passes `check`; an empty answer takes the
    /// default. End of input cancels.
    static func ask<T>(_ question: String, default fallback: String? = nil, check: (String) throws -> T) throws -> T {
        while true {
            let prompt = fallback.map { "\(question) [\($0)]: " } ?? "\(question): "
            StandardStreams.stderr(prompt)
            guard let line = readLine() else {
                StandardStreams.stderr("\n")
                throw EndOfInput()
            }
            // Off a terminal the answer is not echoed: show it, so that the log reads.
            if !Terminal.stdinIsTerminal { StandardStreams.stderr(line + "\n") }
            var answer = line.trimming(\.isBlank)
            if answer.isEmpty, let fallback { answer = fallback }
            do {
                return try check(answer)
            } catch let failure as Failure {
                Report.error(failure.message)
            }
        }
    }

    static func ask(_ question: String, default fallback: String? = nil) throws -> String {
        try ask(question, default: fallback) { $0 }
    }
}
