import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a draft spec NAME.json: the required fields, with what is known filled in.",
        discussion: """
            Only the required values you must choose are placeholders, such as "<instance type, \\
            e.g. t3.medium>"; 'portal-spec NAME.json' lists every one still to be filled. The \\
            optional fields are left out (portal-spec(5) has them all). On the local cloud \\
            (eval "$(bin/local-cloud up)" exports PORTAL_LOCAL_IMAGE_ID and its kin) the spec is \\
            complete and opens as it is. With --from-account, the zone, its default subnet, a \\
            security group that lets SSH in and the newest Ubuntu Deep Learning AMI are looked \\
            up in the account. An existing file is never overwritten.
            """)

    @OptionGroup var portal: PortalName

    @Flag(help: "Fill the zone, default subnet, security group and Ubuntu Deep Learning AMI from the AWS account.")
    var fromAccount = false

    @Option(name: .shortAndLong, help: ArgumentHelp("With --from-account: this zone rather than the region's first.",
                                                     valueName: "zone"))
    var zone: String?

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if zone != nil && !fromAccount { throw ValidationError("--zone goes with --from-account") }
    }

    /// What the local cloud exports about itself, when it is up; nil elsewhere.
    static func localCloud(_ environment: [String: String]) -> PortalSpec.DraftValues? {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let image = value("PORTAL_LOCAL_IMAGE_ID"), let keyPair = value("PORTAL_LOCAL_KEY_PAIR"),
            let key = value("PORTAL_LOCAL_SSH_KEY"), let group = value("PORTAL_LOCAL_SECURITY_GROUP"),
            let zone = value("PORTAL_LOCAL_ZONE")
        else { return nil }
        var values = PortalSpec.DraftValues()
        values.instanceType = "t3.micro"
        values.imageID = image
        values.keyPairName = keyPair
        values.identityFile = key
        values.securityGroupID = group
        values.availabilityZone = zone
        values.remoteUser = value("PORTAL_LOCAL_USER")
        // Until the twin's gateway reports each machine's own address (run.json
        // names its port, as bin/demo and the tests read it), a machine answers
        // at its private address only.
        if value("PORTAL_LOCAL_MACHINES") == "1", let folder = value("PORTAL_LOCAL_CLOUD_DIR"),
            let run = FileManager.default.contents(atPath: folder + "/run.json"),
            !String(decoding: run, as: UTF8.self).contains("\"gateway_port\"")
        {
            values.sshAddress = .privateIP
        }
        return values
    }

    func run() throws {
        try Report.run {
            let path = Porcelain.specPath(portal.name)
            if let problem = PortalDocument.nameProblem(PortalDocument.name(forSpecFile: path)) {
                throw Failure("'\(path)': the portal's name \(problem)", status: .usage)
            }
            if FileManager.default.fileExists(atPath: path) {
                throw Failure("'\(path)' already exists; it is left as it is")
            }
            let say = { (line: String) in if !output.quiet { Terminal.stderr("portal: \(line)") } }
            var values = PortalSpec.DraftValues()
            var source = "a draft"
            if fromAccount {
                let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: true)
                let (found, notes) = try cloud.accountDefaults(zone: zone)
                values = found
                notes.forEach(say)
                source = "a draft from the account"
            } else if let local = Self.localCloud(ProcessInfo.processInfo.environment) {
                values = local
                source = "a spec for the local cloud"
            }
            let text = PortalSpec.draft(values).serialized(pretty: true) + "\n"
            // O_EXCL: never overwrite, even when a file appears meanwhile.
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            guard fd >= 0 else {
                if errno == EEXIST { throw Failure("'\(path)' already exists; it is left as it is") }
                throw Failure("'\(path)': \(String(cString: strerror(errno)))")
            }
            let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            close(fd)
            guard written == text.utf8.count else { throw Failure("'\(path)': could not write the draft") }
            let left = text.contains("<") ? "fill in the <…> values, then check it with 'portal-spec \(path)'"
                : "open it with 'portal open \(portal.name)'"
            say("wrote \(source) to \(path); \(left)")
        }
    }
}
