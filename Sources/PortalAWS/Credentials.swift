import PortalBase

/// An access key, its secret and an optional session token. Its description
/// never shows the secret or the token.
public struct AWSCredentials: Equatable, Sendable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where they came from, for messages: "environment", "profile dev in ~/.aws/credentials", …
    public var source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String {
        "access key \(accessKeyId) from \(source)" + (sessionToken == nil ? "" : " (with a session token)")
    }
}

/// Everything a call to AWS needs, found as the AWS CLI finds it.
public struct AWSConfiguration: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var profile: String
    /// Endpoint URLs set by the user, by service ("ec2", "sts"); others use AWS's.
    public var endpoints: [String: String]

    public func endpoint(for service: String) -> String {
        endpoints[service] ?? "https://\(service).\(region).amazonaws.com"
    }
}

/// Reads credentials, region and endpoints from the environment and files, in
/// the order the AWS CLI uses:
///
/// - credentials: `--profile` when given explicitly; else the environment
///   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); else
///   the profile (`AWS_PROFILE`, or `default`) in the credentials file, then in
///   the config file, then its `credential_process`; else Portal Gun's old
///   `~/.portal-gun/config.json`. An old config named explicitly
///   (`portal -c FILE`, `PORTAL_CONFIG`) comes first, before the environment;
/// - region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
///   `region`, the old config's `aws_region`;
/// - endpoint: `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL_STS`,
///   `AWS_ENDPOINT_URL`, the profile's `endpoint_url`.
public struct ConfigurationResolver {
    public var environment: [String: String]
    public var profileOption: String?
    public var regionOption: String?
    /// Runs a `credential_process` command and returns its stdout.
    public var runProcess: (String) throws -> String = ConfigurationResolver.runCredentialProcess

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                profile: String? = nil, region: String? = nil)
    {
        self.environment = environment
        self.profileOption = profile
        self.regionOption = region
    }

    var home: String { environment["HOME"] ?? passwdHomeDirectory() }

    func expand(_ path: String) -> String {
        path.hasPrefix("~/") ? home + path.dropFirst(1) : path
    }

    var credentialsFile: String {
        expand(environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials")
    }
    var configFile: String { expand(environment["AWS_CONFIG_FILE"] ?? "~/.aws/config") }
    /// Portal Gun 0.x's config: the file named by `portal -c FILE` (which
    /// sets `PORTAL_CONFIG`), else `~/.portal-gun/config.json`.
    var legacyFile: String { nonEmpty(environment["PORTAL_CONFIG"]).map(expand) ?? expand("~/.portal-gun/config.json") }
    var legacyFileIsExplicit: Bool { nonEmpty(environment["PORTAL_CONFIG"]) != nil }

    public var profileName: String {
        nonEmpty(profileOption) ?? nonEmpty(environment["AWS_PROFILE"]) ?? "default"
    }

    func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    /// The profile's keys from the config file: `[profile NAME]`, or
    /// `[default]` for the default profile (`[profile default]` too).
    func configProfile() throws -> [String: String] {
        let ini = try INIFile.load(configFile)
        let name = profileName
        if let section = ini?.sections["profile \(name)"] { return section }
        if name == "default", let section = ini?.sections["default"] { return section }
        return [:]
    }

    func credentialsProfile() throws -> [String: String] {
        try INIFile.load(credentialsFile)?.sections[profileName] ?? [:]
    }

    /// The old config's `aws_region`, `aws_access_key` and `aws_secret_key`,
    /// read from either of its forms: those keys at the top, or the dev
    /// branch's `{"aws": {"region", "access_key", "secret_key"}}`. A file named
    /// explicitly must exist.
    func legacyConfig() throws -> JSONObject? {
        guard let data = FileManager.default.contents(atPath: legacyFile) else {
            if legacyFileIsExplicit {
                throw Failure("'\(legacyFile)' (portal -c, PORTAL_CONFIG): no such file, or it cannot be read",
                              status: .usage)
            }
            return nil
        }
        do {
            guard case .object(var object) = try JSON(parsing: Array(data)) else {
                throw Failure("'\(legacyFile)': expected a JSON object", status: .dataError)
            }
            if case .object(let aws)? = object["aws"] {
                for key in ["region", "access_key", "secret_key"] where object["aws_" + key] == nil {
                    object["aws_" + key] = aws[key]
                }
            }
            return object
        } catch let error as JSONSyntaxError {
            throw Failure("'\(legacyFile)': \(error)", status: .dataError)
        }
    }

    /// The old config's keys, when `portal -c FILE` named it: before everything else.
    func explicitLegacyCredentials() throws -> AWSCredentials? {
        guard legacyFileIsExplicit, nonEmpty(profileOption) == nil, let legacy = try legacyConfig() else { return nil }
        guard let id = legacy["aws_access_key"]?.stringValue, let secret = legacy["aws_secret_key"]?.stringValue else {
            throw Failure("'\(legacyFile)': no aws_access_key and aws_secret_key (nor \"aws\": {\"access_key\", \"secret_key\"})",
                          status: .permission)
        }
        return AWSCredentials(accessKeyId: id, secretAccessKey: secret, source: "'\(legacyFile)'")
    }

    public func resolveCredentials() throws -> AWSCredentials {
        if let credentials = try explicitLegacyCredentials() { return credentials }
        let explicitProfile = nonEmpty(profileOption) != nil
        if !explicitProfile, let id = nonEmpty(environment["AWS_ACCESS_KEY_ID"]) {
            guard let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"]) else {
                throw Failure("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", status: .permission)
            }
            return AWSCredentials(accessKeyId: id, secretAccessKey: secret,
                                  sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"]), source: "the environment")
        }
        let profile = profileName
        for (section, file) in [(try credentialsProfile(), credentialsFile), (try configProfile(), configFile)] {
            if let id = nonEmpty(section["aws_access_key_id"]) {
                guard let secret = nonEmpty(section["aws_secret_access_key"]) else {
                    throw Failure("profile '\(profile)' in '\(file)' has aws_access_key_id but no aws_secret_access_key",
                                  status: .permission)
                }
                return AWSCredentials(accessKeyId: id, secretAccessKey: secret,
                                      sessionToken: nonEmpty(section["aws_session_token"]),
                                      source: "profile '\(profile)' in '\(file)'")
            }
        }
        if let command = nonEmpty(try configProfile()["credential_process"]) {
            return try credentialsFromProcess(command, profile: profile)
        }
        if !explicitProfile, nonEmpty(environment["AWS_PROFILE"]) == nil, let legacy = try legacyConfig(),
            let id = legacy["aws_access_key"]?.stringValue, let secret = legacy["aws_secret_key"]?.stringValue
        {
            return AWSCredentials(accessKeyId: id, secretAccessKey: secret, source: "'\(legacyFile)'")
        }
        throw Failure(
            "no AWS credentials found", status: .permission,
            hints: [
                "looked in: --profile and AWS_PROFILE (profile '\(profile)'), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,",
                "'\(credentialsFile)' (AWS_SHARED_CREDENTIALS_FILE), '\(configFile)' (AWS_CONFIG_FILE,",
                "aws_access_key_id and credential_process), and '\(legacyFile)'",
                "set them up with 'aws configure', or run 'eval \"$(bin/local-cloud up)\"' for the local cloud",
            ])
    }

    func credentialsFromProcess(_ command: String, profile: String) throws -> AWSCredentials {
        let output = try runProcess(command)
        let where_ = "credential_process of profile '\(profile)'"
        guard let json = try? JSON(parsing: output), case .object(let object) = json else {
            throw Failure("\(where_) did not print a JSON object", status: .permission)
        }
        if let version = object["Version"]?.intValue, version != 1 {
            throw Failure("\(where_) printed Version \(version); only Version 1 is understood", status: .permission)
        }
        guard let id = object["AccessKeyId"]?.stringValue, let secret = object["SecretAccessKey"]?.stringValue else {
            throw Failure("\(where_) printed no AccessKeyId and SecretAccessKey", status: .permission)
        }
        if let expiration = object["Expiration"]?.stringValue,
            let date = parseISO8601(expiration), date < Date()
        {
            throw Failure("\(where_) returned credentials that expired at \(expiration)", status: .permission)
        }
        return AWSCredentials(accessKeyId: id, secretAccessKey: secret,
                              sessionToken: object["SessionToken"]?.stringValue, source: where_)
    }

    /// Runs the command through /bin/sh, as the AWS CLI's docs allow, with
    /// its stderr passed on to the user. Like every child it runs without the
    /// AWS keys of this process (`ChildEnvironment`): it is there to make
    /// credentials, not to read them.
    public static func runCredentialProcess(_ command: String) throws -> String {
        let result: (status: Int32, out: [UInt8], err: [UInt8])?
        do { result = try Child.run(["/bin/sh", "-c", command]) } catch {
            throw Failure("credential_process could not start: \(error)", status: .permission)
        }
        guard let result else { throw Failure("interrupted", status: .interrupted) }
        if !result.err.isEmpty { StandardStreams.stderr(String(decoding: result.err, as: UTF8.self)) }
        guard result.status == 0 else {
            throw Failure("credential_process exited with status \(result.status)", status: .permission)
        }
        return String(decoding: result.out, as: UTF8.self)
    }

    /// The region, checked (`AWSNames.isRegion`) whatever its source, since
    /// it becomes part of the endpoint's host name.
    public func resolveRegion() throws -> String {
        let profileRegion = try configProfile()["region"]
        let legacyRegion = { () throws -> (String, String)? in
            guard nonEmpty(self.profileOption) == nil, let region = try self.legacyConfig()?["aws_region"]?.stringValue else { return nil }
            return (region, "aws_region in '\(self.legacyFile)'")
        }
        var found: (String, String)? = nonEmpty(regionOption).map { ($0, "--region") }
        if found == nil, legacyFileIsExplicit { found = try legacyRegion() }
        if found == nil {
            found = nonEmpty(environment["AWS_REGION"]).map { ($0, "AWS_REGION") }
                ?? nonEmpty(environment["AWS_DEFAULT_REGION"]).map { ($0, "AWS_DEFAULT_REGION") }
                ?? nonEmpty(profileRegion).map { ($0, "region of profile '\(profileName)' in '\(configFile)'") }
        }
        if found == nil { found = try legacyRegion() }
        if let (region, source) = found {
            guard AWSNames.isRegion(region) else {
                throw Failure("invalid region \(JSON.string(region).shortDescription) (from \(source))", status: .usage,
                              hints: ["a region is letters, digits and hyphens, such as us-east-1"])
            }
            return region
        }
        throw Failure(
            "no AWS region set", status: .usage,
            hints: [
                "looked in: --region, AWS_REGION, AWS_DEFAULT_REGION, 'region' of profile '\(profileName)' in '\(configFile)',",
                "and aws_region in '\(legacyFile)'",
                "set one with 'export AWS_REGION=us-east-1' or 'aws configure set region us-east-1'",
            ])
    }

    public func resolveEndpoints() throws -> [String: String] {
        var endpoints: [String: String] = [:]
        let profileEndpoint = try configProfile()["endpoint_url"]
        for service in ["ec2", "sts"] {
            let variable = "AWS_ENDPOINT_URL_\(service.uppercased())"
            let found = nonEmpty(environment[variable]).map { ($0, variable) }
                ?? nonEmpty(environment["AWS_ENDPOINT_URL"]).map { ($0, "AWS_ENDPOINT_URL") }
                ?? nonEmpty(profileEndpoint).map { ($0, "endpoint_url of profile '\(profileName)' in '\(configFile)'") }
            if let (url, source) = found {
                if let problem = AWSNames.endpointProblem(url) {
                    throw Failure("invalid endpoint URL \(JSON.string(url).shortDescription) (from \(source)): \(problem)",
                                  status: .usage)
                }
                endpoints[service] = url
            }
        }
        return endpoints
    }

    public func resolve() throws -> AWSConfiguration {
        let region = try resolveRegion()
        return AWSConfiguration(credentials: try resolveCredentials(), region: region,
                                profile: profileName, endpoints: try resolveEndpoints())
    }
}

/// The INI dialect of ~/.aws/config and ~/.aws/credentials: `[section]`,
/// `key = value`, `#` and `;` comments, indented lines continuing a nested
/// block (skipped here, as nothing Portal Gun reads is nested).
struct INIFile {
    var sections: [String: [String: String]] = [:]

    static func load(_ path: String) throws -> INIFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return INIFile(parsing: String(decoding: data, as: UTF8.self))
    }

    init(parsing text: String) {
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if rawLine.first == " " || rawLine.first == "\t" { continue }  // nested sub-section value
            let line = rawLine.trimming(\.isBlank)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true)
                    .joined(separator: " ")
                current = name
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimming(\.isBlank).lowercased()
            let value = line[line.index(after: eq)...].trimming(\.isBlank)
            sections[current]?[key] = value
        }
    }
}
