import Foundation
import PortalBase
import PortalCore
import PortalSSH

/// The remote stages, after the volumes are attached: one SSH connection
/// (libssh2, in process), the volumes mounted, the instance provisioned.
/// `portal-mount` and `portal open` both run exactly this.
public enum RemoteStages {
    public struct Options: Sendable {
        public var sshTimeout: Double = 300
        public var deviceTimeout: Int = 60
        public var provision = true
        public init() {}
    }

    /// The document with "mounts" (and "provisioned") added. `detail` gets
    /// the connection figures, for -v.
    public static func mountAndProvision(_ document: PortalDocument, cloud: PortalCloud?, options: Options = Options(),
                                         progress: @escaping (String) -> Void,
                                         detail: @escaping (String) -> Void = { _ in }) throws -> PortalDocument
    {
        var document = document
        let requests = try MountRequest.requests(in: document)
        let steps = options.provision ? provisionSteps(for: document.spec) : []
        guard !requests.isEmpty || !steps.isEmpty else {
            document = addingMounts([], to: document)
            if options.provision {
                document["provisioned"] = ProvisionResult(pythonVirtualEnv: document.spec.spotInstance.pythonVirtualEnv).json
            }
            detail("no volumes to mount and nothing to provision: no SSH connection made")
            return document
        }
        let target = try SSHTarget(document: document)
        detail("connecting to \(target.destination) port \(target.port) (host key alias \(target.hostKeyAlias))")
        let session = try connect(to: target, options: ConnectOptions(timeout: options.sshTimeout),
                                  consoleOutput: { cloud?.consoleOutput(instanceID: target.hostKeyAlias) },
                                  progress: progress)
        defer { detail("ssh: \(session.statistics.summary)") }
        let mounts = try mountVolumes(document: document, session: session,
                                      options: MountOptions(deviceTimeout: options.deviceTimeout), progress: progress)
        document = addingMounts(mounts, to: document)
        if options.provision {
            let result = try provision(spec: document.spec, session: session,
                                       output: { StandardStreams.stderr(String(decoding: $0, as: UTF8.self)) }, progress: progress)
            document["provisioned"] = result.json
        }
        return document
    }
}
