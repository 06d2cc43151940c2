import PortalAWS
import PortalBase
import PortalModel

/// A volume to create, checked: every field within what AWS accepts.
public struct VolumeRequest: Equatable, Sendable {
    public var name: String?
    /// Nil only with a snapshot: the snapshot's size.
    public var sizeGiB: Int?
    public var zone: String
    public var type: VolumeType
    public var iops: Int?
    public var snapshotID: String?
    /// Tags besides Name and created-by, in the order given.
    public var tags: [(String, String)]

    public init(name: String? = nil, sizeGiB: Int?, zone: String, type: VolumeType = .default, iops: Int? = nil,
                snapshotID: String? = nil, tags: [(String, String)] = []) {
        self.name = name
        self.sizeGiB = sizeGiB
        self.zone = zone
        self.type = type
        self.iops = iops
        self.snapshotID = snapshotID
        self.tags = tags
    }

    public static func == (lhs: VolumeRequest, rhs: VolumeRequest) -> Bool {
        lhs.name == rhs.name && lhs.sizeGiB == rhs.sizeGiB && lhs.zone == rhs.zone && lhs.type == rhs.type
            && lhs.iops == rhs.iops && lhs.snapshotID == rhs.snapshotID
            && lhs.tags.elementsEqual(rhs.tags, by: { $0 == $1 })
    }

    /// Every tag the volume is created with: Name (when given), created-by,
    /// Portal Gun 0.x's dimension, then the others.
    public func allTags(createdBy: String) -> [(String, String)] {
        (name.map { [(Tag.name, $0)] } ?? []) + [(Tag.createdBy, createdBy), (Tag.dimension, Tag.dimensionValue)] + tags
    }

    /// CreateVolume's parameters.
    public func parameters(createdBy: String, clientToken: String) -> QueryParameters {
        var pairs: [(String, String)] = [("AvailabilityZone", zone), ("VolumeType", type.rawValue)]
        if let sizeGiB { pairs.append(("Size", String(sizeGiB))) }
        if let iops { pairs.append(("Iops", String(iops))) }
        if let snapshotID { pairs.append(("SnapshotId", snapshotID)) }
        pairs.append(("ClientToken", clientToken))
        pairs += Tag.specification(1, resourceType: "volume", allTags(createdBy: createdBy))
        return QueryParameters(pairs)
    }
}

/// What `portal volume update` changes; nil leaves a field as it is.
public struct VolumeChange: Equatable, Sendable {
    public var name: String?
    public var sizeGiB: Int?
    public var tags: [(String, String)]

    public init(name: String? = nil, sizeGiB: Int? = nil, tags: [(String, String)] = []) {
        self.name = name
        self.sizeGiB = sizeGiB
        self.tags = tags
    }

    public var isEmpty: Bool { name == nil && sizeGiB == nil && tags.isEmpty }

    public static func == (lhs: VolumeChange, rhs: VolumeChange) -> Bool {
        lhs.name == rhs.name && lhs.sizeGiB == rhs.sizeGiB && lhs.tags.elementsEqual(rhs.tags, by: { $0 == $1 })
    }

    /// Checks the change against the volume as it is, before any call: a
    /// volume only grows, within its type's sizes. Returns whether the size
    /// changes (false: the same size, nothing to do).
    public func checkSize(against volume: Volume) throws -> Bool {
        guard let sizeGiB else { return false }
        if sizeGiB < volume.sizeGiB {
            throw Failure(
                "cannot shrink '\(volume.id)' from \(volume.sizeGiB) GiB to \(sizeGiB) GiB: an EBS volume can only grow",
                status: .dataError,
                hints: ["to use less space, create a smaller volume and copy the data over"])
        }
        if let type = VolumeType(rawValue: volume.type) { try VolumeInput.check(size: sizeGiB, type: type) }
        return sizeGiB > volume.sizeGiB
    }
}

/// What an update did.
public struct VolumeUpdate: Equatable, Sendable {
    public var volume: Volume
    /// From and to, when the size changed.
    public var resized: (from: Int, to: Int)?
    /// The tags written (Name included).
    public var tagged: [String]

    public static func == (lhs: VolumeUpdate, rhs: VolumeUpdate) -> Bool {
        lhs.volume == rhs.volume && lhs.resized?.from == rhs.resized?.from && lhs.resized?.to == rhs.resized?.to
            && lhs.tagged == rhs.tagged
    }
}

/// The volumes a delete names, checked: those that may go, and why the others may not.
public struct VolumeDeletionPlan: Sendable {
    public var volumes: [Volume]
    public var refusals: [Failure]
}
