import PortalBase
import PortalModel

/// One volume to mount: an entry of the document's `"attachments"`, which
/// names what a spec's `persistent_volumes` entry names (the device as
/// requested from EC2; the instance may call it otherwise).
public typealias MountRequest = PortalSpec.PersistentVolume

extension PortalSpec.PersistentVolume {
    /// The volumes to mount: `"attachments"`, with the device and mount point
    /// taken from the spec's `persistent_volumes` where an attachment lacks them.
    public static func requests(in document: PortalDocument) throws -> [MountRequest] {
        return try document.requireAttachments().enumerated().map { index, attachment in
            let path = "<stdin>: \(DocumentKey.attachments)[\(index)]"
            // Checked as the document was read (`Attachment(document:path:)`).
            let volumeID = attachment.volumeID
            let fromSpec = document.spec.persistentVolumes.first { $0.volumeID == volumeID }
            guard let device = attachment.device ?? fromSpec?.device else {
                throw Failure("\(path).device: required, not found", status: .dataError)
            }
            guard let mountPoint = attachment.mountPoint ?? fromSpec?.mountPoint else {
                throw Failure("\(path).mount_point: required, not found", status: .dataError)
            }
            return MountRequest(volumeID: volumeID, device: device, mountPoint: mountPoint)
        }
    }
}

/// Options for mounting.
public struct MountOptions: Sendable {
    /// Seconds to wait for a volume's device to appear on the instance.
    public var deviceTimeout = 60
    public init(deviceTimeout: Int = 60) { self.deviceTimeout = deviceTimeout }
}

/// The one command that mounts a volume (see `MountScript`).
public func mountCommand(_ request: MountRequest, owner: String, group: String, options: MountOptions = MountOptions()) -> String {
    MountScript.command(arguments: [request.volumeID.rawValue, request.device, request.mountPoint, owner, group,
                                    String(options.deviceTimeout)])
}

/// Mounts one volume: one remote command, one round trip.
public func mount(_ request: MountRequest, session: SSHSession, owner: String, group: String,
                  options: MountOptions = MountOptions()) throws -> MountResult {
    let result = try session.run(mountCommand(request, owner: owner, group: group, options: options), holdStdin: true)
    let values = MountScript.parse(result.stdoutText)
    guard result.status == 0 else {
        let stderr = result.stderrText.trimming()
        if let message = MountScript.errorMessage(result.stdoutText) {
            throw Failure("\(request.volumeID): \(message)", status: result.status == 4 ? .temporary : .failure)
        }
        if stderr.contains("sudo") && stderr.contains("not found") {
            throw Failure("\(request.volumeID): the remote user is not root and sudo is not installed on the instance: \(stderr)",
                          status: .permission)
        }
        if stderr.contains("sudo:") {
            throw Failure("\(request.volumeID): the remote user cannot run commands as root without a password "
                          + "(sudo -n): \(stderr)", status: .permission)
        }
        throw Failure("\(request.volumeID): the mount script failed with exit status \(result.status)"
                      + (stderr.isEmpty ? "" : ": \(stderr)"))
    }
    func int(_ key: String) -> Int64 { values[key].flatMap { Int64($0) } ?? 0 }
    guard let device = values["device"] else {
        throw Failure("\(request.volumeID): the mount script gave no answer: \(result.stdoutText)\(result.stderrText)")
    }
    return MountResult(volumeID: request.volumeID, device: device, foundBy: values["found_by"] ?? "",
                       mountPoint: values["mount_point"] ?? request.mountPoint, formatted: values["formatted"] == "1",
                       filesystem: values["filesystem"] ?? "", sizeBytes: int("size_bytes"),
                       filesystemBytes: int("filesystem_bytes"), grown: values["grown"] == "1",
                       alreadyMounted: values["already_mounted"] == "1", warning: values["warning"])
}

/// Mounts every attachment of a document over one session, parents before
/// the mount points inside them. Each volume is tried even when another one
/// failed; then every failure is reported together. Returns the results in
/// the order of `"attachments"`.
public func mountVolumes(document: PortalDocument, session: SSHSession, options: MountOptions = MountOptions(),
                         progress: (String) -> Void = { _ in }) throws -> [MountResult] {
    let requests = try MountRequest.requests(in: document)
    let owner = document.spec.spotInstance.remoteUser
    let group = document.spec.spotInstance.remoteGroup
    let order = requests.indices.sorted {
        let depth = { (i: Int) in requests[i].mountPoint.split(separator: "/").count }
        return depth($0) != depth($1) ? depth($0) < depth($1) : $0 < $1
    }
    var results = [MountResult?](repeating: nil, count: requests.count)
    var failures: [String] = []
    var status = ExitStatus.failure
    for index in order {
        do {
            let result = try mount(requests[index], session: session, owner: owner, group: group, options: options)
            progress(result.summary)
            if let warning = result.warning { progress("warning: \(result.volumeID): \(warning)") }
            results[index] = result
        } catch let failure as PortalFailure {
            failures.append(failure.description)
            if failure.exitStatus != .failure { status = failure.exitStatus }
        }
    }
    if !failures.isEmpty {
        let mounted = results.compactMap { $0 }.map { "\($0.volumeID) on \($0.mountPoint)" }
        throw Failure(failures.count == 1 ? failures[0] : "\(failures.count) volumes failed: " + failures.joined(separator: "; "),
                      status: status,
                      hints: mounted.isEmpty ? [] : ["mounted nonetheless: " + mounted.joined(separator: ", ")])
    }
    return results.compactMap { $0 }
}


