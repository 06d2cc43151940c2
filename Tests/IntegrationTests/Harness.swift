import Foundation
import PortalBase
import Testing

/// Runs the built executables as a user would: arguments, stdin, environment;
/// collects stdout, stderr and the exit status.
enum Binaries {
    /// The folder of the built products: PORTAL_BIN_DIR, else the folder of
    /// the running test bundle (`.build/debug`).
    static let directory: URL = {
        if let dir = ProcessInfo.processInfo.environment["PORTAL_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var url = Bundle.main.bundleURL
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("portal-ec2").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug")
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

final class DataBox: @unchecked Sendable {  // written by one thread, read after it is joined
    var data = Data()
}

struct Run {
    var status: Int32
    var stdout: String
    var stderr: String

    var json: JSON? { try? JSON(parsing: stdout) }
}

/// Runs an executable (a built one by name, or an absolute path) and waits.
@discardableResult
func run(_ name: String, _ arguments: [String] = [], stdin: String? = nil, environment: [String: String] = [:],
         replacingEnvironment: Bool = false, directory: String? = nil) throws -> Run
{
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.executableURL = URL(fileURLWithPath: name.hasPrefix("/") ? name : Binaries.path(name))
    process.arguments = arguments
    var env = replacingEnvironment ? [:] : ProcessInfo.processInfo.environment
    env.merge(environment) { _, new in new }
    process.environment = env
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    if let stdin {
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    // Read stderr on another thread so that neither pipe fills up and blocks the child.
    let errBox = DataBox()
    let reader = DispatchGroup()
    DispatchQueue.global().async(group: reader) { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile() }
    let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
    reader.wait()
    process.waitUntilExit()
    let errData = errBox.data
    return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
               stderr: String(decoding: errData, as: UTF8.self))
}

/// The local cloud that bin/test starts (bin/local-cloud up), found through
/// the variables it exports. Without it the integration tests are skipped,
/// unless PORTAL_REQUIRE_LOCAL_CLOUD=1 (as bin/test sets) makes that a failure.
enum LocalCloud {
    static let environment = ProcessInfo.processInfo.environment
    static var isUp: Bool { environment["AWS_ENDPOINT_URL"]?.hasPrefix("http://127.0.0.1") == true }
    static var required: Bool { environment["PORTAL_REQUIRE_LOCAL_CLOUD"] == "1" }
    static var available: Bool {
        if !isUp && required {
            Issue.record("PORTAL_REQUIRE_LOCAL_CLOUD=1 but the local cloud is not up: run 'eval \"$(bin/local-cloud up)\"'")
        }
        return isUp
    }
    static var endpoint: String { environment["AWS_ENDPOINT_URL"] ?? "" }
}

/// A moto server of a test's own, on a free loopback port, for tests that
/// change its global state (such as turning signature checks on).
final class MotoServer {
    let process = Process()
    let port: Int
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init() throws {
        port = try freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["moto_server", "-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? post("/moto-api/data.json", body: nil, method: "GET")) != nil { return }
            usleep(100_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw Failure("moto_server did not answer on port \(port) within 30 s")
    }

    deinit {
        // SIGKILL: a child of the test runner inherits its blocked signal
        // mask, so SIGTERM would stay pending forever.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A plain HTTP request to the server, through curl(1).
    @discardableResult
    func post(_ path: String, body: String?, method: String = "POST", service: String? = nil) throws -> String {
        var args = ["-sf", "-X", method, endpoint + path]
        if service == nil {
            // moto's own API reads a raw body, which a form content type would swallow.
            args += ["-H", "Content-Type: text/plain"]
        }
        if let service {
            // moto picks the service from the credential scope; the signature is not checked here.
            args += ["-H", "Authorization: AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/\(service)/aws4_request, SignedHeaders=host, Signature=0"]
        }
        if let body { args += ["--data-binary", body] }
        let result = try run("/usr/bin/curl", args)
        guard result.status == 0 else { throw Failure("curl \(path): exit \(result.status)") }
        return result.stdout
    }
}

func freePort() throws -> Int {
    let (fd, port) = try loopbackSocket(listening: false)
    close(fd)
    return port
}

/// A TCP socket bound to a free loopback port (and listening, when asked);
/// the caller closes it.
func loopbackSocket(listening: Bool) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound, !listening || listen(fd, 4) == 0 else {
        close(fd)
        throw Failure("could not find a free port")
    }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

extension LocalCloud {
    /// Every instance is a machine of its own (bin/local-cloud up --machines).
    static var machines: Bool { environment["PORTAL_LOCAL_MACHINES"] == "1" }

    /// What portal-mount says at first contact with an instance of the twin: verified
    /// against the console's fingerprints, which the gateway serves once a machine is ready.
    static func firstContact(_ instanceID: String) -> String {
        "host key of \(instanceID) verified against the instance console's fingerprints"
    }

    /// A spec for the local cloud written exactly as one for AWS: the image, key pair,
    /// key, security group, zone and user that `bin/local-cloud up` exports, and no
    /// "ssh" section: the gateway reports each machine's own address, as AWS does.
    static func spec(instanceType: String = "t3.micro", zone: String? = nil, volumes: [JSON] = [],
                     channels: [JSON] = [], setupCommands: [String] = [], identityFile: String? = nil) -> JSON {
        let env = environment
        func exported(_ name: String, _ fallback: String = "") -> JSON { .string(env[name] ?? fallback) }
        var spot = JSONObject()
        spot["instance_type"] = .string(instanceType)
        spot["image_id"] = exported("PORTAL_LOCAL_IMAGE_ID")
        spot["key_pair_name"] = exported("PORTAL_LOCAL_KEY_PAIR")
        spot["identity_file"] = identityFile.map(JSON.string) ?? exported("PORTAL_LOCAL_SSH_KEY")
        spot["security_group_id"] = exported("PORTAL_LOCAL_SECURITY_GROUP")
        spot["availability_zone"] = zone.map(JSON.string) ?? exported("PORTAL_LOCAL_ZONE", "us-east-1a")
        spot["remote_user"] = exported("PORTAL_LOCAL_USER", "ubuntu")
        if !setupCommands.isEmpty { spot["setup_commands"] = .array(setupCommands.map(JSON.string)) }
        var spec = JSONObject()
        spec["spot_instance"] = .object(spot)
        if !volumes.isEmpty { spec["persistent_volumes"] = .array(volumes) }
        if !channels.isEmpty { spec["channels"] = .array(channels) }
        return .object(spec)
    }
}

/// A machine of the local cloud (bin/local-cloud up --machines), from its
/// machine.json; its files and mounts seen from the host through
/// /proc/<its PID 1>/root, as a test needs to check what happened on it.
struct Machine {
    let instanceID: String
    let address: String
    let pid: Int
    let hostKeys: [String]

    /// Waits until the local cloud says the instance's machine is ready (sshd answers).
    static func ready(_ instanceID: String, seconds: Double = 30) throws -> Machine {
        let file = (LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] ?? "") + "/instances/\(instanceID)/machine.json"
        var found: Machine?
        _ = waitUntil(seconds: seconds) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), let record = try? JSON(parsing: text),
                  record["state"] == "ready", let address = record["address"]?.stringValue,
                  let pid = record["pid"]?.intValue else { return false }
            found = Machine(instanceID: instanceID, address: address, pid: Int(pid),
                            hostKeys: record["host_keys"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            return true
        }
        guard let found else { throw Failure("no ready machine for \(instanceID) after \(Int(seconds)) s (\(file))") }
        return found
    }

    /// The host's path to a path on the machine.
    func path(_ path: String) -> String { "/proc/\(pid)/root" + path }
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: self.path(path)) }
    func read(_ path: String) throws -> String { try String(contentsOfFile: self.path(path), encoding: .utf8) }
    func write(_ path: String, _ text: String) throws { try text.write(toFile: self.path(path), atomically: false, encoding: .utf8) }

    /// The mount points on the machine (its mountinfo's octal escapes decoded).
    var mountPoints: [String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? LocalVolumes.unescape(String(fields[4])) : nil
        }
    }

    func isMounted(_ path: String) -> Bool { mountPoints.contains(path) }

    /// The host's loop device behind a volume attached to this machine.
    static func loopDevice(of volume: String, seconds: Double = 15) throws -> String {
        let file = (LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] ?? "") + "/volumes/attached.json"
        var loop: String?
        _ = waitUntil(seconds: seconds) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), let record = try? JSON(parsing: text) else { return false }
            loop = record[volume]?["loop"]?.stringValue
            return loop != nil
        }
        guard let loop else { throw Failure("no loop device for \(volume) after \(Int(seconds)) s") }
        return loop
    }

    /// The device name of a volume on the machine (/dev/nvme<N>n1).
    static func device(of volume: String) -> String? {
        let file = (LocalCloud.environment["PORTAL_LOCAL_CLOUD_DIR"] ?? "") + "/volumes/attached.json"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8), let record = try? JSON(parsing: text) else { return nil }
        return record[volume]?["device"]?.stringValue
    }
}
