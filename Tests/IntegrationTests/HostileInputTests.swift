import Foundation
import PortalBase
import Testing

/// The built executables against hostile or careless input: values that would
/// send requests elsewhere, numbers that cannot be waited for, output that
/// cannot be written. No cloud needed: each case is refused (or ends) before
/// any AWS call, in an environment of its own.
struct HostileInputTests {
    /// An environment with dummy keys, a HOME of its own and no endpoint: a
    /// call that got through would go to AWS's own host name.
    static func isolated(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") && !$0.key.hasPrefix("PORTAL_") }
        env["HOME"] = FileManager.default.temporaryDirectory.appendingPathComponent("portal-hostile-home").path
        env["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE"
        env["AWS_SECRET_ACCESS_KEY"] = "hostile-test-secret"
        env["AWS_REGION"] = "us-east-1"
        return env.merging(extra) { _, new in new }
    }

    /// Runs a shell command line (for redirections such as `>&-`), the built
    /// products' folder first on PATH.
    static func shell(_ line: String, environment: [String: String] = isolated()) throws -> Run {
        var env = environment
        env["PATH"] = Binaries.directory.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        return try run("/bin/sh", ["-c", line], environment: env, replacingEnvironment: true)
    }

    /// A spec that validates without a cloud, in a folder of its own.
    static func specFile() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-hostile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "key".write(toFile: folder + "/key", atomically: true, encoding: .utf8)
        chmod(folder + "/key", 0o600)
        let spec = """
            {"spot_instance": {"instance_type": "t3.micro", "image_id": "ami-12345678", "key_pair_name": "k",
             "identity_file": "\(folder)/key", "security_group_id": "sg-12345678", "availability_zone": "us-east-1a"},
             "persistent_volumes": []}
            """
        try spec.write(toFile: folder + "/gpu.json", atomically: true, encoding: .utf8)
        return folder + "/gpu.json"
    }

    // MARK: 1. Values that end up in a host name

    @Test("a region with URL punctuation is exit 64 before any connection, and nothing connects")
    func hostileRegion() throws {
        let (listener, port) = try loopbackSocket(listening: true)
        defer { close(listener) }
        _ = fcntl(listener, F_SETFL, O_NONBLOCK)
        let region = "x@127.0.0.1:\(port)/#"
        for (arguments, env) in [(["--region", region], Self.isolated()),
                                 ([], Self.isolated(["AWS_REGION": region])),
                                 ([], Self.isolated(["AWS_REGION": "", "AWS_DEFAULT_REGION": region]))] {
            let result = try run("portal-ec2", ["DescribeVolumes"] + arguments, environment: env, replacingEnvironment: true)
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("invalid region"), "\(result.stderr)")
            #expect(accept(listener, nil, nil) < 0, "portal-ec2 connected to the host the region named")
        }
    }

    // MARK: 2. Output that cannot be written

    @Test("stdout closed, full or abandoned is exit 74 with a message, never a crash")
    func brokenStdout() throws {
        let spec = try Self.specFile()
        for redirection in [">&-", ">/dev/full"] {
            let result = try Self.shell("portal-spec '\(spec)' \(redirection)")
            #expect(result.status == 74, "\(redirection): \(result.status) \(result.stderr.prefix(300))")
            #expect(result.stderr.hasPrefix("portal-spec: error: cannot write to stdout:"), "\(result.stderr.prefix(300))")
        }
        // A reader that goes away before the document is written.
        let packages = (0..<50_000).map { "\"package-\($0)\"" }.joined(separator: ",")
        let big = try String(contentsOfFile: spec, encoding: .utf8)
            .replacingOccurrences(of: "\"availability_zone\"", with: "\"extra_python_packages\": [\(packages)], \"availability_zone\"")
        try big.write(toFile: spec, atomically: true, encoding: .utf8)
        let pipe = try run("/bin/bash", ["-c", "portal-spec '\(spec)' | head -c1 >/dev/null; echo ${PIPESTATUS[0]}"],
                           environment: Self.isolated(["PATH": Binaries.directory.path + ":/usr/bin:/bin"]),
                           replacingEnvironment: true)
        #expect(pipe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "74", "\(pipe.stdout) \(pipe.stderr.prefix(300))")
    }

    @Test("stderr closed on an error: the error's own exit status, no crash")
    func closedStderr() throws {
        let result = try Self.shell("portal-spec /nonexistent/gpu.json 2>&-")
        #expect(result.status == 65)
        let both = try Self.shell("portal-spec '\(try Self.specFile())' >&- 2>&-")
        #expect(both.status == 74)
    }

    // MARK: 3. Numbers on the command line

    @Test("a numeric option that is not a finite number in range is exit 64 naming it; -1 is read as its value",
          arguments: [
              ("portal-sync", "--ssh-timeout"), ("portal-sync", "--settle"), ("portal-mount", "--ssh-timeout"),
              ("portal-mount", "--device-timeout"), ("portal-spot-request", "--timeout"),
              ("portal-volume-attach", "--timeout"), ("portal", "open gpu --timeout"), ("portal", "ssh gpu --ssh-timeout"),
              ("portal", "channel gpu --ssh-timeout"), ("portal-sign", "--presign"),
          ])
    func numericOptions(_ command: String, _ option: String) throws {
        let words = option.split(separator: " ").map(String.init)
        for value in ["nan", "inf", "-inf", "1e308", "9223372036854775807", "-1", "-0.5", "1e-400x", ""] {
            let result = try run(command, words + [value], stdin: "{}", environment: Self.isolated(), replacingEnvironment: true)
            #expect(result.status == 64, "\(command) \(option) \(value): \(result.status) \(result.stderr.prefix(300))")
            #expect(result.stderr.contains("'\(value)'") && result.stderr.contains(words.last!),
                    "\(command) \(option) \(value): \(result.stderr.prefix(300))")
        }
    }

    // MARK: 6. Numbers in documents

    @Test("a number EC2 cannot be given exactly is exit 65 naming its parameter, before any call")
    func unrepresentableParameter() throws {
        let result = try run("portal-ec2", stdin: #"{"Action": "DescribeVolumes", "MaxResults": 1e400}"#,
                             environment: Self.isolated(), replacingEnvironment: true)
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("MaxResults"), "\(result.stderr)")
    }

    // MARK: 9. Smaller ones

    @Test("JSON parameters without an Action are bad input (65); no stdin and no argument is usage (64)")
    func missingAction() throws {
        let json = try run("portal-ec2", stdin: #"{"VolumeId.1": "vol-12345678"}"#, environment: Self.isolated(), replacingEnvironment: true)
        #expect(json.status == 65, "\(json.stderr)")
        let none = try run("portal-ec2", stdin: "", environment: Self.isolated(), replacingEnvironment: true)
        #expect(none.status == 64, "\(none.stderr)")
    }

    @Test("stdin beyond its cap is refused with 65 without reading it all")
    func stdinCap() throws {
        let result = try Self.shell("head -c 40000000 /dev/zero | tr '\\0' ' ' | portal-find")
        #expect(result.status == 65, "\(result.stderr.prefix(300))")
        #expect(result.stderr.contains("MiB"), "\(result.stderr.prefix(300))")
    }

    @Test("a long argument is not echoed whole in an error")
    func longArgumentsAbbreviated() throws {
        let long = String(repeating: "x", count: 100_000)
        for (command, arguments) in [("portal-ec2", ["--region", long, "DescribeVolumes"]),
                                     ("portal-spec", ["--name", long, "-"]),
                                     ("portal", ["volume", "delete", long])] {
            let result = try run(command, arguments, stdin: "{}", environment: Self.isolated(), replacingEnvironment: true)
            #expect(result.status != 0)
            #expect(result.stderr.count < 2000, "\(command): \(result.stderr.count) characters on stderr")
        }
    }
}

extension HostileInputTests {
    @Test("exit status 74 is in README's table and in every manual page's EXIT STATUS")
    func outputFailureDocumented() throws {
        let readme = try String(contentsOf: Manual.repository.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("| 74 | stdout could not be written"))
        for page in Manual.pages where page.hasSuffix(".1") {
            let text = try String(contentsOfFile: Manual.path(page), encoding: .utf8)
            let section = text.components(separatedBy: ".Sh EXIT STATUS").dropFirst().first?.components(separatedBy: "\n.Sh ").first
            #expect(section?.contains(".It 74\nThe output could not be written") == true, "\(page)")
        }
    }
}
