import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH

/// The remote stages, after the volumes are attached: one SSH connection
/// (libssh2, in process), the volumes mounted, the instance provisioned.
/// `portal-mount` and `portal open` both run exactly this; `portal open`
/// makes the connection while the volumes attach (`connect`), then hands it
/// to `mount`. (Here, apart from the other stages, so that only what
/// connects links libssh2.)
extension Stages {
    public struct RemoteOptions: Sendable {
        public var sshTimeout: Double = 300
        public var deviceTimeout: Int = 60
        public var provision = true
        /// The watcher and `run` (SpotMarketStages): installed when the spec
        /// asks for them or a deadline is set.
        public var spotMarket = true
        public var deadline: WatcherInstall.Deadline = .keep
        public init() {}
    }

    /// Whether the remote stages have anything to do over SSH: a volume of
    /// the spec to mount, provisioning to do, or the watcher to install.
    public static func needConnection(_ document: PortalDocument, options: RemoteOptions = RemoteOptions()) -> Bool {
        !document.spec.persistentVolumes.isEmpty || (options.provision && !provisionSteps(for: document.spec).isEmpty)
            || needWatcher(document, options: options)
    }

    static func needWatcher(_ document: PortalDocument, options: RemoteOptions) -> Bool {
        options.spotMarket && (document.spec.spotMarket.needsWatcher || options.deadline != .keep)
    }

    /// Connects to the document's instance (it needs `"instance"`, not yet
    /// `"attachments"`): waits for sshd, checks the host key, authenticates.
    /// `shouldStop`: asked while waiting for sshd; true gives up (exit 130).
    public static func connect(_ document: PortalDocument, cloud: PortalCloud?, options: RemoteOptions = RemoteOptions(),
                               progress: @escaping (String) -> Void,
                               detail: @escaping (String) -> Void = { _ in },
                               shouldStop: @escaping @Sendable () -> Bool = { Interruption.cutsShort }) throws -> SSHSession
    {
        let target = try SSHTarget(document: document)
        detail("connecting to \(target.destination) port \(target.port) (host key alias \(target.hostKeyAlias))")
        var connect = ConnectOptions(timeout: options.sshTimeout)
        connect.shouldStop = shouldStop
        return try PortalSSH.connect(to: target, options: connect,
                                     consoleOutput: { cloud?.consoleOutput(instanceID: target.hostKeyAlias) },
                                     progress: progress)
    }

    /// The document with "mounts" (and "provisioned") added. `detail` gets
    /// the connection figures, for -v. `session`: a connection already made
    /// (by `connect`); else one is made when needed.
    public static func mount(_ document: PortalDocument, cloud: PortalCloud?, options: RemoteOptions = RemoteOptions(),
                                         session given: SSHSession? = nil,
                                         progress: @escaping (String) -> Void,
                                         detail: @escaping (String) -> Void = { _ in }) throws -> PortalDocument
    {
        var document = document
        let requests = try MountRequest.requests(in: document)
        let steps = options.provision ? provisionSteps(for: document.spec) : []
        let watcher = needWatcher(document, options: options)
        guard !requests.isEmpty || !steps.isEmpty || watcher else {
            document.mounts = []
            if options.provision {
                document.provisioned = ProvisionResult(pythonVirtualEnv: document.spec.spotInstance.pythonVirtualEnv)
            }
            detail("no volumes to mount and nothing to provision: no SSH connection made")
            return document
        }
        let session = try given ?? connect(document, cloud: cloud, options: options, progress: progress, detail: detail)
        defer { detail("ssh: \(session.statistics.summary)") }
        let mounts = try mountVolumes(document: document, session: session,
                                      options: MountOptions(deviceTimeout: options.deviceTimeout), progress: progress)
        document.mounts = mounts
        if options.provision {
            let result = try provision(spec: document.spec, session: session,
                                       output: { StandardStreams.stderr(String(decoding: $0, as: UTF8.self)) }, progress: progress)
            document.provisioned = result
        }
        if watcher {
            document = try SpotMarketStages.prepare(document, session: session, deadline: options.deadline, cloud: cloud,
                                                    progress: progress)
        }
        return document
    }
}
