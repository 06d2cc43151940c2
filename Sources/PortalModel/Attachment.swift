import PortalBase

/// A volume attached to an instance: an entry of the document's
/// `"attachments"` (portal-volume-attach writes every field), or one of a
/// volume's attachments as DescribeVolumes lists them (`Volume.attachments`).
public struct Attachment: Equatable, Sendable {
    public var volumeID: VolumeID
    public var instanceID: InstanceID?
    /// The device as requested from EC2 (the instance may name it otherwise).
    public var device: String?
    /// Where the spec mounts it (attachments in documents only).
    public var mountPoint: String?
    /// attaching, attached, detaching.
    public var state: String?

    public init(volumeID: VolumeID, instanceID: InstanceID?, device: String? = nil, mountPoint: String? = nil,
                state: String? = nil) {
        self.volumeID = volumeID
        self.instanceID = instanceID
        self.device = device
        self.mountPoint = mountPoint
        self.state = state
    }

    /// An entry of `"attachments"`; `path` names it in messages
    /// (`<stdin>: attachments[0]`). Only the volume id is required: a stage
    /// that needs the device or mount point takes it from the spec. The ids
    /// are checked here: a volume id names a device link and a lock file on
    /// the instance, an instance id a line of known_hosts.
    public init(document entry: JSON, path: String) throws {
        guard let text = entry[DocumentKey.volumeID]?.stringValue, !text.isEmpty else {
            throw Failure("\(path).\(DocumentKey.volumeID): required, not found", status: .dataError)
        }
        let volumeID = try VolumeID.document(text, at: "\(path).\(DocumentKey.volumeID)")
        let instanceID = try entry["instance_id"]?.stringValue.map { try InstanceID.document($0, at: "\(path).instance_id") }
        self.init(volumeID: volumeID, instanceID: instanceID, device: entry["device"]?.stringValue,
                  mountPoint: entry["mount_point"]?.stringValue, state: entry["state"]?.stringValue)
    }

    /// The entry of `"attachments"`: the fields known, in this order.
    public var json: JSON {
        var object = JSONObject([(DocumentKey.volumeID, volumeID.json)])
        if let device { object["device"] = .string(device) }
        if let mountPoint { object["mount_point"] = .string(mountPoint) }
        if let instanceID { object["instance_id"] = instanceID.json }
        if let state { object["state"] = .string(state) }
        return .object(object)
    }
}
