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
        /// The watcher and `run` (SpotMarketStages): installed when the spec
        /// asks for them or a deadline is set.
        public var spotMarket = true
        public var deadline: WatcherInstall.Deadline = .keep
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
        let watcher = options.spotMarket && (document.spec.spotMarket.needsWatcher || options.deadline != .keep)
        guard !requests.isEmpty || !steps.isEmpty || watcher else {
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
                                       output: { FileHandle.standardError.write(Data($0)) }, progress: progress)
            document["provisioned"] = result.json
        }
        if watcher {
            document = try SpotMarketStages.prepare(document, session: session, deadline: options.deadline, cloud: cloud,
                                                    progress: progress)
        }
        return document
    }
}
