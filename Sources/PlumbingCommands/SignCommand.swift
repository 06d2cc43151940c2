import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI

/// `portal-sign`.
public struct PortalSign: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-sign",
        abstract: "Sign an HTTP request (read as JSON on stdin) with AWS Signature Version 4.",
        discussion: """
            Reads {"method", "url", "headers", "body" | "body_base64", "region", "service"} and \
            writes the same object with X-Amz-Date, X-Amz-Security-Token (with a session token) \
            and Authorization added to its headers. Credentials come from the standard chain \
            (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/credentials, ~/.aws/config, credential_process); \
            they are never accepted as arguments.
            """)

    enum Stage: String, ExpressibleByArgument, CaseIterable {
        case canonicalRequest = "canonical-request"
        case stringToSign = "string-to-sign"
    }

    @OptionGroup var aws: AWSOptions

    @Option(help: ArgumentHelp("Sign as of this time instead of the request's X-Amz-Date or now.", valueName: "YYYYMMDDTHHMMSSZ"))
    var date: String?

    @Flag(help: "Add an X-Amz-Content-Sha256 header with the payload's hash.")
    var contentSha256 = false

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Put the signature in the URL's query, valid for SECONDS, instead of in headers.", valueName: "SECONDS"))
    var presign: Int?

    @Option(help: ArgumentHelp("Print this stage of the signing as text instead of the signed request.", valueName: "STAGE"))
    var print: Stage?

    public func validate() throws {
        if let date, SigV4.parseAmzDate(date) == nil {
            throw ValidationError("--date: expected YYYYMMDDTHHMMSSZ, such as 20150830T123600Z, found '\(date)'")
        }
        if let presign, !(1...604_800).contains(presign) {
            throw ValidationError("--presign: expected 1 to 604800 seconds, found '\(presign)'")
        }
    }

    public init() {}

    public func run() throws {
        try Report.run {
            let document = try RequestDocument(CommandIO.readJSON(expecting: "an HTTP request"))
            let resolver = ConfigurationResolver(profile: aws.profile, region: aws.region)
            let credentials = try resolver.resolveCredentials()
            let region = try document.region ?? resolver.resolveRegion()
            guard let service = document.service ?? document.serviceFromHost else {
                throw Failure("<stdin>: service: required when the host does not name it, such as \"ec2\"",
                              status: .dataError)
            }
            var signer = SigV4(credentials: credentials, region: region, service: service)
            signer.addContentSHA256 = contentSha256
            var request = document.request
            if let date { request.headers.removeAll { $0.name.lowercased() == "x-amz-date" }
                request.headers.append(.init("X-Amz-Date", date)) }
            let now = Date()
            if let stage = print {
                let (prepared, amzDate) = signer.prepared(request, date: now)
                let canonical = signer.canonicalRequest(prepared)
                switch stage {
                case .canonicalRequest: Terminal.stdout(canonical + "\n")
                case .stringToSign: Terminal.stdout(signer.stringToSign(canonicalRequest: canonical, amzDate: amzDate) + "\n")
                }
                return
            }
            let signed = presign.map { signer.presign(request, expires: $0, date: now) } ?? signer.sign(request, date: now)
            Terminal.writeDocument(document.output(signed))
        }
    }
}
