import PortalBase

/// A portal spec, validated: what to rent, what to attach, what to keep in sync.
///
/// The format is the one Portal Gun users already write (man/portal-spec.5) plus optional
/// extensions: `spot_instance.setup_commands`, `channels[].delete` and `ssh`.
/// A value of this type comes only from `validate(json:file:strict:)` or from
/// its initialisers; `toJSON()` writes the normalised form that `portal-spec`
/// puts in a portal document: the keys of the input format, defaults filled,
/// `~` expanded and local paths absolute.
public struct PortalSpec: Equatable, Hashable, Sendable {
    public var spotInstance: SpotInstance
    /// Present: request the instance through a Spot Fleet with this role.
    public var spotFleet: SpotFleet?
    public var persistentVolumes: [PersistentVolume]
    public var channels: [Channel]
    public var ssh: SSH
    /// Extension: interruption notices, reopen, deadline, idle stop (SpotMarket.swift).
    public var spotMarket = SpotMarket()

    public init(spotInstance: SpotInstance, spotFleet: SpotFleet? = nil,
                persistentVolumes: [PersistentVolume] = [], channels: [Channel] = [], ssh: SSH = SSH()) {
        self.spotInstance = spotInstance
        self.spotFleet = spotFleet
        self.persistentVolumes = persistentVolumes
        self.channels = channels
        self.ssh = ssh
    }

    public struct SpotInstance: Equatable, Hashable, Sendable {
        public var instanceType: String
        public var imageID: String
        public var keyPairName: String
        /// The private key, as an absolute path (`~` expanded).
        public var identityFile: String
        public var securityGroupID: String
        public var availabilityZone: String
        public var subnetID: String?
        public var ebsOptimized: Bool
        public var remoteUser: String
        public var remoteGroup: String
        public var pythonVirtualEnv: String?
        public var extraPythonPackages: [String]
        /// Extension: shell commands run on the instance, in order, once it is prepared.
        public var setupCommands: [String]

        public init(instanceType: String, imageID: String, keyPairName: String, identityFile: String,
                    securityGroupID: String, availabilityZone: String, subnetID: String? = nil,
                    ebsOptimized: Bool = false, remoteUser: String = "ubuntu", remoteGroup: String? = nil,
                    pythonVirtualEnv: String? = nil, extraPythonPackages: [String] = [],
                    setupCommands: [String] = []) {
            self.instanceType = instanceType
            self.imageID = imageID
            self.keyPairName = keyPairName
            self.identityFile = identityFile
            self.securityGroupID = securityGroupID
            self.availabilityZone = availabilityZone
            self.subnetID = subnetID
            self.ebsOptimized = ebsOptimized
            self.remoteUser = remoteUser
            self.remoteGroup = remoteGroup ?? remoteUser
            self.pythonVirtualEnv = pythonVirtualEnv
            self.extraPythonPackages = extraPythonPackages
            self.setupCommands = setupCommands
        }
    }

    public struct SpotFleet: Equatable, Hashable, Sendable {
        public var iamFleetRole: String
        public init(iamFleetRole: String) { self.iamFleetRole = iamFleetRole }
    }

    public struct PersistentVolume: Equatable, Hashable, Sendable {
        public var volumeID: VolumeID
        /// The device name requested from EC2, under `/dev/`.
        public var device: String
        /// A path on the instance, without a trailing slash: absolute, or
        /// relative to the remote user's home (resolved there by portal-mount).
        public var mountPoint: String
        public init(volumeID: VolumeID, device: String, mountPoint: String) {
            self.volumeID = volumeID
            self.device = device
            self.mountPoint = mountPoint
        }
    }

    public struct Channel: Equatable, Hashable, Sendable {
        public enum Direction: String, Sendable, CaseIterable {
            /// From the instance to the laptop.
            case `in`
            /// From the laptop to the instance.
            case out
        }
        public var direction: Direction
        /// An absolute path on the laptop; a trailing slash is kept (rsync reads it).
        public var localPath: String
        /// A path on the instance: absolute as written, or relative to the
        /// remote user's home (as ssh and rsync take it).
        public var remotePath: String
        public var recursive: Bool
        /// Seconds between two polls of an inbound channel; 0: as often as sensible.
        public var delay: Double
        /// The pause between two polls: `delay`, but at least 0.2 s, so that
        /// `delay: 0` polls as often as sensible rather than in a busy loop.
        public var pollInterval: Double { max(delay, 0.2) }
        /// Extension: delete on the receiving side what the sending side no longer has.
        public var delete: Bool

        public init(direction: Direction, localPath: String, remotePath: String,
                    recursive: Bool = false, delay: Double = 1.0, delete: Bool = false) {
            self.direction = direction
            self.localPath = localPath
            self.remotePath = remotePath
            self.recursive = recursive
            self.delay = delay
            self.delete = delete
        }
    }

    /// Extension: how to reach the instance over SSH.
    public struct SSH: Equatable, Hashable, Sendable {
        public enum Address: String, Sendable, CaseIterable {
            case publicIP = "public_ip"
            case privateIP = "private_ip"
            case publicDNS = "public_dns"
        }
        /// Which of the instance's addresses to connect to.
        public var address: Address
        /// Connect here instead of the instance's address (a tunnel, the local cloud).
        public var host: String?
        public var port: Int

        public init(address: Address = .publicDNS, host: String? = nil, port: Int = 22) {
            self.address = address
            self.host = host
            self.port = port
        }
    }
}

// MARK: - The normalised form

extension PortalSpec {
    /// The spec in the input format's keys and order, every default filled in:
    /// what `portal-spec` writes as a portal document's `"spec"`. Optional
    /// fields without a default (`subnet_id`, `python_virtual_env`,
    /// `spot_fleet`, `ssh.host`) are left out when absent. Validating this
    /// JSON again gives the same spec.
    public func toJSON() -> JSON {
        var instance = JSONObject()
        instance["instance_type"] = .string(spotInstance.instanceType)
        instance["image_id"] = .string(spotInstance.imageID)
        instance["key_pair_name"] = .string(spotInstance.keyPairName)
        instance["identity_file"] = .string(spotInstance.identityFile)
        instance["security_group_id"] = .string(spotInstance.securityGroupID)
        instance["availability_zone"] = .string(spotInstance.availabilityZone)
        if let subnet = spotInstance.subnetID { instance["subnet_id"] = .string(subnet) }
        instance["ebs_optimized"] = .bool(spotInstance.ebsOptimized)
        instance["remote_user"] = .string(spotInstance.remoteUser)
        instance["remote_group"] = .string(spotInstance.remoteGroup)
        if let env = spotInstance.pythonVirtualEnv { instance["python_virtual_env"] = .string(env) }
        instance["extra_python_packages"] = .array(spotInstance.extraPythonPackages.map(JSON.string))
        instance["setup_commands"] = .array(spotInstance.setupCommands.map(JSON.string))

        var spec = JSONObject()
        spec["spot_instance"] = .object(instance)
        if let fleet = spotFleet {
            spec["spot_fleet"] = ["iam_fleet_role": .string(fleet.iamFleetRole)]
        }
        spec["persistent_volumes"] = .array(persistentVolumes.map { volume in
            [DocumentKey.volumeID: volume.volumeID.json, "device": .string(volume.device),
             "mount_point": .string(volume.mountPoint)]
        })
        spec["channels"] = .array(channels.map { channel in
            ["direction": .string(channel.direction.rawValue), "local_path": .string(channel.localPath),
             "remote_path": .string(channel.remotePath), "recursive": .bool(channel.recursive),
             "delay": .double(channel.delay), "delete": .bool(channel.delete)]
        })
        var ssh = JSONObject()
        ssh["address"] = .string(self.ssh.address.rawValue)
        if let host = self.ssh.host { ssh["host"] = .string(host) }
        ssh["port"] = .int(Int64(self.ssh.port))
        spec["ssh"] = .object(ssh)
        spotMarket.write(into: &spec)
        return .object(spec)
    }

    /// What `portal init` knows of the place the portal will run: from the
    /// local cloud's environment, or looked up in the account
    /// (`--from-account`). Each value left nil stays a placeholder.
    public struct DraftValues: Equatable, Sendable {
        public var instanceType: String?
        public var imageID: String?
        public var keyPairName: String?
        public var identityFile: String?
        public var securityGroupID: String?
        public var availabilityZone: String?
        public var subnetID: String?
        public var remoteUser: String?
        /// Which of the instance's addresses to connect to, when not the default.
        public var sshAddress: SSH.Address?
        public init() {}
    }

    /// A spec to start from: what `portal init` writes. Only the required
    /// values a person must choose are placeholders (`"<…>"`, `"ami-<id>"`),
    /// which `validate` lists, all at once, until they are filled in; the
    /// optional fields are left out (portal-spec(5) and portal-init(1) show
    /// them), so nothing optional blocks. `values` fills what is known.
    public static func draft(_ values: DraftValues = DraftValues()) -> JSON {
        var instance = JSONObject()
        instance["instance_type"] = .string(values.instanceType ?? "<instance type, e.g. t3.medium>")
        instance["image_id"] = .string(values.imageID ?? "ami-<id>")
        instance["key_pair_name"] = .string(values.keyPairName ?? "<EC2 key pair name>")
        instance["identity_file"] = .string(values.identityFile ?? "<private key of the key pair, e.g. ~/.ssh/portal>")
        instance["security_group_id"] = .string(values.securityGroupID ?? "sg-<id>")
        instance["availability_zone"] = .string(values.availabilityZone ?? "<availability zone, e.g. us-east-1a>")
        if let subnet = values.subnetID { instance["subnet_id"] = .string(subnet) }
        instance["remote_user"] = .string(values.remoteUser ?? "ubuntu")
        var spec = JSONObject([("spot_instance", .object(instance)), ("persistent_volumes", []), ("channels", [])])
        if let address = values.sshAddress { spec["ssh"] = ["address": .string(address.rawValue)] }
        return .object(spec)
    }

    /// Whether a value is a placeholder still to be filled: `"<…>"`, or any
    /// string with `<id>` in it (`"ami-<id>"`).
    public static func isPlaceholder(_ value: String) -> Bool {
        (value.hasPrefix("<") && value.hasSuffix(">")) || value.contains("<id>")
    }
}
