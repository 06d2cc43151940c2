import PortalBase

// Persistent volumes: the EBS volumes that keep a portal's data from one open
// to the next. `portal volume create | list | update | delete` manage them;
// nothing else in Portal Gun ever deletes one.

/// An EBS volume as Portal Gun sees it: one item of DescribeVolumes'
/// `volumeSet`, typed, with the tags Portal Gun reads.
public struct Volume: Equatable, Sendable {
    public var id: VolumeID
    public var sizeGiB: Int
    public var zone: String
    /// creating, available, in-use, deleting, deleted, error.
    public var state: String
    public var type: String
    public var iops: Int?
    /// gp3's provisioned throughput, MiB/s.
    public var throughput: Int? = nil
    public var encrypted = false
    public var kmsKeyID: String? = nil
    public var snapshotID: String?
    public var createTime: String?
    /// Current attachments (attaching, attached, detaching); more than one
    /// only for io1/io2 Multi-Attach.
    public var attachments: [Attachment]
    public var tags: [String: String]

    public init(id: VolumeID, sizeGiB: Int, zone: String, state: String = "available", type: String = "gp3",
                iops: Int? = nil, snapshotID: String? = nil, createTime: String? = nil,
                attachments: [Attachment] = [], tags: [String: String] = [:]) {
        self.id = id
        self.sizeGiB = sizeGiB
        self.zone = zone
        self.state = state
        self.type = type
        self.iops = iops
        self.snapshotID = snapshotID
        self.createTime = createTime
        self.attachments = attachments
        self.tags = tags
    }

    /// Reads one item of DescribeVolumes' `volumeSet` (or CreateVolume's answer).
    public init(json: JSON) throws {
        guard let text = json["volumeId"]?.stringValue else {
            throw Failure("EC2 answered with a volume without a volumeId")
        }
        guard let id = VolumeID(text) else {
            throw Failure("EC2 answered with a volume id that is not one: \(JSON.string(text).shortDescription)")
        }
        self.id = id
        sizeGiB = Int(json["size"]?.intValue ?? json["size"]?.stringValue.flatMap { Int64($0) } ?? 0)
        zone = json["availabilityZone"]?.stringValue ?? ""
        state = json["status"]?.stringValue ?? json["state"]?.stringValue ?? ""
        type = json["volumeType"]?.stringValue ?? ""
        iops = json["iops"]?.intValue.map { Int($0) }
        throughput = json["throughput"]?.intValue.map { Int($0) }
        encrypted = json["encrypted"]?.boolValue ?? false
        kmsKeyID = json["kmsKeyId"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        snapshotID = json["snapshotId"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        createTime = json["createTime"]?.stringValue
        attachments = (json["attachmentSet"]?.arrayValue ?? []).compactMap { item in
            guard let instance = item["instanceId"]?.stringValue.flatMap(InstanceID.init),
                  item["status"]?.stringValue != "detached" else {
                return nil
            }
            return Attachment(volumeID: id, instanceID: instance, device: item["device"]?.stringValue,
                              state: item["status"]?.stringValue)
        }
        tags = Tag.dictionary(json["tagSet"])
    }

    /// The Name tag; an empty one counts as none.
    public var name: String? { tags[Tag.name].flatMap { $0.isEmpty ? nil : $0 } }
    /// The portal it is attached to, as portal-volume-attach tags it.
    public var portal: String? { tags[Tag.portalName].flatMap { $0.isEmpty ? nil : $0 } }
    public var mountPoint: String? { tags[Tag.mountPoint].flatMap { $0.isEmpty ? nil : $0 } }
    public var createdBy: String? { tags[Tag.createdBy].flatMap { $0.isEmpty ? nil : $0 } }
    /// The tags a person set (`-t`): all but Name and those Portal Gun writes.
    public var userTags: [(String, String)] {
        tags.filter { $0.key != Tag.name && !VolumeInput.reservedTagKeys.contains($0.key) }
            .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
    /// The instance that holds it (the first, for Multi-Attach).
    public var instanceID: InstanceID? { attachments.first?.instanceID }
    public var isInUse: Bool { !attachments.isEmpty || state == "in-use" }

    /// `'vol-…' (data, 50 GiB gp3, us-east-1a)`, for messages.
    public var summary: String {
        let details = [name, "\(sizeGiB) GiB \(type)".trimming(\.isBlank), zone]
            .compactMap { $0 }.filter { !$0.isEmpty }
        return "'\(id)' (\(details.joined(separator: ", ")))"
    }

    /// The object `portal volume list --json` prints for it. Every key is
    /// always present (null when empty), so that scripts can rely on them.
    public var json: JSON {
        func string(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
        let sortedTags = tags.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }
        return .object(JSONObject([
            (DocumentKey.volumeID, id.json),
            ("name", string(name)),
            ("size_gib", .int(Int64(sizeGiB))),
            ("zone", .string(zone)),
            ("state", .string(state)),
            ("type", .string(type)),
            ("iops", iops.map { .int(Int64($0)) } ?? .null),
            ("instance_id", instanceID?.json ?? .null),
            ("device", string(attachments.first?.device)),
            ("portal", string(portal)),
            ("mount_point", string(mountPoint)),
            ("created_by", string(createdBy)),
            ("snapshot_id", string(snapshotID)),
            ("create_time", string(createTime)),
            ("tags", .object(JSONObject(sortedTags))),
        ]))
    }

    /// The listing's order: named volumes by name, then the unnamed; ties by id.
    public static func listingOrder(_ a: Volume, _ b: Volume) -> Bool {
        switch (a.name, b.name) {
        case let (x?, y?) where x != y: return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        default: return a.id < b.id
        }
    }
}
