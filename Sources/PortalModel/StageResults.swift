import PortalBase

// What the stages after the attachment record in the portal document.

/// What mounting one volume did: an entry of `"mounts"`.
public struct MountResult: Equatable, Sendable {
    public var volumeID: VolumeID
    /// The device found on the instance (`/dev/nvme1n1`, `/dev/xvdf`, `/dev/loop3`).
    public var device: String
    /// How it was found: `nvme-by-id-serial`, `nvme-by-id` (no serial to confirm, as a
    /// loop device), `nvme-serial`, `name-serial` or `name`.
    public var foundBy: String
    public var mountPoint: String
    /// Formatted now, because it was blank.
    public var formatted: Bool
    public var filesystem: String
    /// The device's size.
    public var sizeBytes: Int64
    /// The file system's size (after growing it).
    public var filesystemBytes: Int64
    /// The file system was grown to fill a larger volume.
    public var grown: Bool
    /// It was mounted there already.
    public var alreadyMounted: Bool
    /// Something that did not stop the mount but should be known (a file
    /// system that could not be grown): written as `"warning"` when present.
    public var warning: String? = nil

    public init(volumeID: VolumeID, device: String, foundBy: String, mountPoint: String, formatted: Bool,
                filesystem: String, sizeBytes: Int64, filesystemBytes: Int64, grown: Bool, alreadyMounted: Bool,
                warning: String? = nil) {
        self.volumeID = volumeID
        self.device = device
        self.foundBy = foundBy
        self.mountPoint = mountPoint
        self.formatted = formatted
        self.filesystem = filesystem
        self.sizeBytes = sizeBytes
        self.filesystemBytes = filesystemBytes
        self.grown = grown
        self.alreadyMounted = alreadyMounted
        self.warning = warning
    }

    /// An entry of `"mounts"` as `json` writes it; nil when it is not one.
    public init?(json: JSON) {
        guard let volumeID = json[DocumentKey.volumeID]?.stringValue.flatMap(VolumeID.init), let device = json["device"]?.stringValue,
              let mountPoint = json["mount_point"]?.stringValue else { return nil }
        self.init(volumeID: volumeID, device: device, foundBy: json["found_by"]?.stringValue ?? "", mountPoint: mountPoint,
                  formatted: json["formatted"]?.boolValue ?? false, filesystem: json["filesystem"]?.stringValue ?? "",
                  sizeBytes: json["size_bytes"]?.intValue ?? 0, filesystemBytes: json["filesystem_bytes"]?.intValue ?? 0,
                  grown: json["grown"]?.boolValue ?? false, alreadyMounted: json["already_mounted"]?.boolValue ?? false,
                  warning: json["warning"]?.stringValue)
    }

    public var json: JSON {
        var object = JSONObject()
        object[DocumentKey.volumeID] = volumeID.json
        object["device"] = .string(device)
        object["mount_point"] = .string(mountPoint)
        object["formatted"] = .bool(formatted)
        object["filesystem"] = .string(filesystem)
        object["size_bytes"] = .int(sizeBytes)
        object["filesystem_bytes"] = .int(filesystemBytes)
        object["grown"] = .bool(grown)
        object["already_mounted"] = .bool(alreadyMounted)
        object["found_by"] = .string(foundBy)
        if let warning { object["warning"] = .string(warning) }
        return .object(object)
    }

    /// One line for a person: `vol-… (/dev/nvme1n1): formatted ext4, mounted on /data`.
    public var summary: String {
        var what: [String] = []
        if formatted { what.append("formatted \(filesystem) (it was blank)") } else { what.append("\(filesystem) kept") }
        if grown { what.append("grown to \(filesystemBytes / 1_048_576) MiB") }
        what.append(alreadyMounted ? "already mounted on \(mountPoint)" : "mounted on \(mountPoint)")
        return "\(volumeID) (\(device)): " + what.joined(separator: ", ")
    }
}

/// What provisioning did: the document's `"provisioned"`.
public struct ProvisionResult: Equatable, Sendable {
    public var pythonVirtualEnv: String?
    /// The packages installed with pip (none when the spec lists none).
    public var pythonPackages: [String]
    /// How many `setup_commands` ran, all successfully.
    public var setupCommands: Int

    public init(pythonVirtualEnv: String? = nil, pythonPackages: [String] = [], setupCommands: Int = 0) {
        self.pythonVirtualEnv = pythonVirtualEnv
        self.pythonPackages = pythonPackages
        self.setupCommands = setupCommands
    }

    /// `"provisioned"` as `json` writes it; nil when it is not that.
    public init?(json: JSON) {
        guard let packages = json["python_packages"]?.arrayValue, let commands = json["setup_commands"]?.intValue else {
            return nil
        }
        self.init(pythonVirtualEnv: json["python_virtual_env"]?.stringValue,
                  pythonPackages: packages.compactMap(\.stringValue), setupCommands: Int(commands))
    }

    public var json: JSON {
        [
            "python_virtual_env": pythonVirtualEnv.map(JSON.string) ?? .null,
            "python_packages": .array(pythonPackages.map(JSON.string)),
            "setup_commands": .int(Int64(setupCommands)),
        ]
    }
}

/// How the portal was closed: the document's `"closed"` (portal-spot-cancel).
public struct Closing: Equatable, Sendable {
    /// The instance terminated; nil when the portal was not open.
    public var instanceID: InstanceID?

    public init(instanceID: InstanceID?) { self.instanceID = instanceID }

    /// `"closed"` as `json` writes it; nil when it is not that.
    public init?(json: JSON) {
        guard let state = json["state"]?.stringValue, ["terminated", "not-open"].contains(state) else { return nil }
        if let text = json["instance_id"]?.stringValue {
            guard let id = InstanceID(text) else { return nil }
            instanceID = id
        } else {
            instanceID = nil
        }
    }

    public var json: JSON {
        ["instance_id": instanceID?.json ?? .null, "state": instanceID == nil ? "not-open" : "terminated"]
    }
}
