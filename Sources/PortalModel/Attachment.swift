import PortalBase

/// A volume attached to an instance: an entry of the document's
/// `"attachments"` (portal-volume-attach writes every field), or one of a
/// volume's attachments as DescribeVolumes lists them (`Volume.attachments`).
public struct Attachment: Equatable, Sendable {
    public var volumeID: String
    public var instanceID: String?
    /// The device as requested from EC2 (the instance may name it otherwise).
    public var device: String?
    /// Where the spec mounts it (attachments in documents only).
    public var mountPoint: String?
    /// attaching, attached, detaching.
    public var state: String?

    public init(volumeID: String, instanceID: String?, device: String? = nil, mountPoint: String? = nil,
                state: String? = nil) {
        self.volumeID = volumeID
        self.instanceID = instanceID
        self.device = device
        self.mountPoint = mountPoint
        self.state = state
    }

    /// An entry of `"attachments"`; `path` names it in messages
    /// (`<stdin>: attachments[0]`). Only the volume id is required: a stage
    /// that needs the device or mount point takes it from the spec.
    public init(document entry: JSON, path: String) throws {
        guard let volumeID = entry[DocumentKey.volumeID]?.stringValue, !volumeID.isEmpty else {
            throw Failure("\(path).\(DocumentKey.volumeID): required, not found", status: .dataError)
        }
        self.init(volumeID: volumeID, instanceID: entry["instance_id"]?.stringValue, device: entry["device"]?.stringValue,
                  mountPoint: entry["mount_point"]?.stringValue, state: entry["state"]?.stringValue)
    }

    /// The entry of `"attachments"`: the fields known, in this order.
    public var json: JSON {
        var object = JSONObject([(DocumentKey.volumeID, .string(volumeID))])
        if let device { object["device"] = .string(device) }
        if let mountPoint { object["mount_point"] = .string(mountPoint) }
        if let instanceID { object["instance_id"] = .string(instanceID) }
        if let state { object["state"] = .string(state) }
        return .object(object)
    }
}
