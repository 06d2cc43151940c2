import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI

/// `portal-ec2`.
public struct PortalEC2: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-ec2",
        abstract: "Make one signed EC2 (or STS) API call and print the answer as JSON.",
        discussion: """
            Reads the call's parameters as a JSON object on stdin, named as the Query API \
            names them ({"Action": "DescribeVolumes", "Filter.1.Name": "tag:portal-name", \
            "Filter.1.Value.1": "gpu"}) or structured ({"Filters": [{"Name": "…", "Values": \
            ["…"]}]}), which is flattened the way the service expects. ACTION on the command \
            line may stand for "Action"; stdin may then be empty. Writes the response as JSON \
            on stdout: lists as arrays, integers and booleans typed. Retries throttling, \
            5xx and connection errors as the AWS SDKs' standard mode does.
            """)

    enum Service: String, ExpressibleByArgument, CaseIterable { case ec2, sts }

    @Argument(help: "The action, such as DescribeVolumes (else stdin's \"Action\").")
    var action: String?

    @Option(help: "The service to call.")
    var service: Service = .ec2

    @OptionGroup var aws: AWSOptions

    @OptionGroup var output: OutputOptions

    public init() {}

    public func run() throws {
        try Report.run {
            var parameters = JSONObject()
            let data = Terminal.stdinIsTerminal && action != nil ? [] : try StandardStreams.readInput()
            if !data.allSatisfy({ [0x20, 0x0A, 0x0D, 0x09].contains($0) }) {
                let json: JSON
                do { json = try JSON(parsing: data) } catch {
                    throw Failure("<stdin>: \(error)", status: .dataError)
                }
                guard case .object(let object) = json else {
                    throw Failure("<stdin>: expected a JSON object of parameters, found \(json.typeName)", status: .dataError)
                }
                parameters = object
            }
            if let action { parameters["Action"] = .string(action) }
            guard case .string(let name)? = parameters["Action"], !name.isEmpty else {
                // Parameters without their action are bad input; nothing at all is a bad command line.
                throw Failure("no action: give one as an argument or as \"Action\" on stdin",
                              status: parameters.isEmpty ? .usage : .dataError)
            }
            parameters["Action"] = nil
            let client = try CommandIO.client(aws, verbose: output.verbose)
            let response = try client.call(name, json: parameters, service: service.rawValue)
            Terminal.writeDocument(response)
        }
    }
}
