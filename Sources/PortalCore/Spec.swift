import PortalBase

/// A portal spec, validated: what to rent, what to attach, what to keep in sync.
///
/// The format is Portal Gun's seed format (DESIGN.md, "The spec") plus optional
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
        public var volumeID: String
        /// The device name requested from EC2, under `/dev/`.
        public var device: String
        /// An absolute path on the instance, without a trailing slash.
        public var mountPoint: String
        public init(volumeID: String, device: String, mountPoint: String) {
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
        /// An absolute path on the instance, as written.
        public var remotePath: String
        public var recursive: Bool
        /// Seconds between two polls of an inbound channel.
        public var delay: Double
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
            ["volume_id": .string(volume.volumeID), "device": .string(volume.device),
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

    /// A spec to start from, with every field of the format: what `portal init`
    /// writes. Values a person must choose are placeholders (`"<…>"`, `"ami-<id>"`),
    /// which `validate` refuses, naming each, until they are filled in or their
    /// optional field is removed.
    public static func draft() -> JSON {
        [
            "spot_instance": [
                "instance_type": "<instance type, e.g. t3.medium>",
                "image_id": "ami-<id>",
                "key_pair_name": "<EC2 key pair name>",
                "identity_file": "<private key of the key pair, e.g. ~/.ssh/portal>",
                "security_group_id": "sg-<id>",
                "availability_zone": "<availability zone, e.g. us-east-1a>",
                "subnet_id": "subnet-<id>",
                "ebs_optimized": false,
                "remote_user": "ubuntu",
                "remote_group": "ubuntu",
                "python_virtual_env": "<virtual env to activate, e.g. pytorch>",
                "extra_python_packages": [],
                "setup_commands": [],
            ],
            "spot_fleet": [
                "iam_fleet_role": "<IAM fleet role ARN, e.g. arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role>",
            ],
            "persistent_volumes": [
                ["volume_id": "vol-<id>", "device": "/dev/xvdf", "mount_point": "/home/ubuntu/data"],
            ],
            "channels": [
                ["direction": "out", "local_path": "<local folder, e.g. ./src/>",
                 "remote_path": "/home/ubuntu/data/src", "recursive": true, "delay": 1.0, "delete": false],
            ],
            "ssh": ["address": "public_dns", "host": nil, "port": 22],
        ]
    }

    /// Whether a value is a placeholder still to be filled: `"<…>"`, or any
    /// string with `<id>` in it (`"ami-<id>"`).
    public static func isPlaceholder(_ value: String) -> Bool {
        (value.hasPrefix("<") && value.hasSuffix(">")) || value.contains("<id>")
    }
}
