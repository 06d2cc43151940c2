import PortalAWS
import PortalBase
import PortalModel

// Persistent volumes: the EBS volumes that keep a portal's data from one open
// to the next. `portal volume create | list | update | delete` manage them;
// nothing else in Portal Gun ever deletes one.

/// An EBS volume as Portal Gun sees it: one item of DescribeVolumes'
/// `volumeSet`, typed, with the tags Portal Gun reads.
public struct Volume: Equatable, Sendable {
    public var id: String
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

    public init(id: String, sizeGiB: Int, zone: String, state: String = "available", type: String = "gp3",
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
        guard let id = json["volumeId"]?.stringValue else {
            throw Failure("EC2 answered with a volume without a volumeId")
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
            guard let instance = item["instanceId"]?.stringValue, item["status"]?.stringValue != "detached" else {
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
    public var instanceID: String? { attachments.first?.instanceID }
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
            (DocumentKey.volumeID, .string(id)),
            ("name", string(name)),
            ("size_gib", .int(Int64(sizeGiB))),
            ("zone", .string(zone)),
            ("state", .string(state)),
            ("type", .string(type)),
            ("iops", iops.map { .int(Int64($0)) } ?? .null),
            ("instance_id", string(instanceID)),
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

    /// The table `portal volume list` prints: a header, one line per volume,
    /// columns aligned with two spaces between them, sizes right-aligned, `-`
    /// for an empty cell, no trailing spaces.
    public static func table(_ volumes: [Volume]) -> String {
        let header = ["ID", "NAME", "SIZE", "ZONE", "STATE", "INSTANCE", "PORTAL", "MOUNT POINT", "TAGS"]
        let rows = volumes.map { volume in
            [volume.id, volume.name, "\(volume.sizeGiB) GiB", volume.zone, volume.state, volume.instanceID,
             volume.portal, volume.mountPoint, volume.userTags.map { "\($0.0):\($0.1)" }.joined(separator: " ")]
                .map { cell(($0 ?? "")) }
        }
        return Table.render(header: header, rows: rows, rightAligned: [2])
    }

    /// A cell of the table: `-` when empty, control characters (a newline in
    /// a tag) shown as `?` so that they cannot break the lines.
    static func cell(_ text: String) -> String {
        if text.isEmpty { return "-" }
        return String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
    }
}

/// EBS volume types, with the sizes each allows.
public enum VolumeType: String, CaseIterable, Sendable {
    case gp2, gp3, io1, io2, st1, sc1, standard

    public static let `default` = VolumeType.gp3

    /// The sizes AWS allows for the type, in GiB (io2 Block Express can go
    /// further; Portal Gun stays within what every region offers).
    public var sizes: ClosedRange<Int> {
        switch self {
        case .gp2, .gp3: return 1...16384
        case .io1, .io2: return 4...16384
        case .st1, .sc1: return 125...16384
        case .standard: return 1...1024
        }
    }

    /// The size a new volume gets when none is given: 50 GiB, or the type's
    /// least when that is more (st1, sc1: 125 GiB).
    public var defaultSizeGiB: Int { max(VolumeInput.defaultSizeGiB, sizes.lowerBound) }

    /// Provisioned IOPS: required for io1 and io2, allowed for gp3.
    public var iopsRequired: Bool { self == .io1 || self == .io2 }
    public var iopsAllowed: Bool { iopsRequired || self == .gp3 }
}

/// The checks on what a person types, made before any AWS call. Each error is
/// a usage error (exit 64) in the house style.
public enum VolumeInput {
    public static let sizes = 1...16384
    public static let defaultSizeGiB = 50
    /// Tags Portal Gun writes itself; `-t` may not set them.
    public static let reservedTagKeys: Set<String> = [Tag.createdBy, Tag.portalName, Tag.mountPoint, Tag.dimension]

    /// A size in GiB: a whole number from 1 to 16384 (within the type's own
    /// range when the type is known).
    public static func size(_ text: String, type: VolumeType? = nil) throws -> Int {
        let trimmed = text.trimming(\.isBlank)
        let digits = trimmed.hasSuffix("GiB") ? String(trimmed.dropLast(3)).trimming(\.isBlank) : trimmed
        guard let size = Int(digits), sizes.contains(size), digits.allSatisfy(\.isASCII) else {
            throw Failure("invalid size '\(text)': expected a whole number of GiB from 1 to 16384", status: .usage)
        }
        if let type { try check(size: size, type: type) }
        return size
    }

    public static func check(size: Int, type: VolumeType) throws {
        guard type.sizes.contains(size) else {
            throw Failure(
                "invalid size '\(size)' for a volume of type \(type.rawValue): expected \(type.sizes.lowerBound) "
                    + "to \(type.sizes.upperBound) GiB",
                status: .usage)
        }
    }

    /// A zone of the region: its name starts with the region's
    /// (`us-east-1a`, `us-east-1-bos-1a` in us-east-1), checked before
    /// CreateVolume so that nothing is made elsewhere, or refused late.
    public static func check(zone: String, region: String) throws {
        guard zone.hasPrefix(region), zone.count > region.count else {
            throw Failure("availability zone '\(zone)' is not in the region \(region)", status: .usage,
                          hints: ["give a zone of \(region), such as -z \(region)a, or another region with --region"])
        }
    }

    public static func type(_ text: String) throws -> VolumeType {
        guard let type = VolumeType(rawValue: text) else {
            let names = VolumeType.allCases.map(\.rawValue).joined(separator: ", ")
            throw Failure("invalid volume type '\(text)': expected one of \(names)", status: .usage)
        }
        return type
    }

    /// `key:value`: the key is everything before the first colon and may not
    /// be empty; the value is the rest, colons included, and may be empty.
    public static func tag(_ text: String) throws -> (key: String, value: String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw Failure("invalid tag '\(text)': expected key:value", status: .usage)
        }
        let key = String(text[..<colon])
        let value = String(text[text.index(after: colon)...])
        guard !key.trimming(\.isBlank).isEmpty else {
            throw Failure("invalid tag '\(text)': the key is empty", status: .usage)
        }
        guard key.count <= 128 else {
            throw Failure("invalid tag '\(text)': the key is longer than 128 characters", status: .usage)
        }
        guard value.count <= 256 else {
            throw Failure("invalid tag '\(text)': the value is longer than 256 characters", status: .usage)
        }
        guard !key.lowercased().hasPrefix("aws:") else {
            throw Failure("invalid tag '\(text)': keys starting with 'aws:' are AWS's own", status: .usage)
        }
        guard !reservedTagKeys.contains(key) else {
            throw Failure("invalid tag '\(text)': Portal Gun writes '\(key)' itself", status: .usage)
        }
        return (key, value)
    }

    /// `-t` tags with `-n`: `Name` may come from either, but not from both
    /// with different values; a key given twice is an error. Returns the
    /// name and the other tags, in the order given.
    public static func tags(_ texts: [String], name: String?) throws -> (name: String?, tags: [(String, String)]) {
        var name = name
        var tags: [(String, String)] = []
        for text in texts {
            let (key, value) = try tag(text)
            if key == Tag.name {
                if let name, name != value {
                    throw Failure("conflicting names: -n '\(name)' and -t '\(text)'; give one", status: .usage)
                }
                name = value
            } else if let earlier = tags.first(where: { $0.0 == key }) {
                throw Failure("tag '\(key)' given twice: '\(earlier.0):\(earlier.1)' and '\(text)'", status: .usage)
            } else {
                tags.append((key, value))
            }
        }
        return (name, tags)
    }

    public static func volumeID(_ text: String) throws -> String {
        try resourceID(text, prefix: "vol-", what: "volume id", example: "vol-0123456789abcdef0")
    }

    public static func snapshotID(_ text: String) throws -> String {
        try resourceID(text, prefix: "snap-", what: "snapshot id", example: "snap-0123456789abcdef0")
    }

    static func resourceID(_ text: String, prefix: String, what: String, example: String) throws -> String {
        let hex = text.dropFirst(prefix.count)
        guard text.hasPrefix(prefix), (8...17).contains(hex.count),
            hex.allSatisfy({ $0.isHexDigit && $0.isASCII })
        else {
            throw Failure("invalid \(what) '\(abbreviated(text))': expected \(prefix) and 8 to 17 hex digits, such as \(example)",
                          status: .usage)
        }
        return text
    }

    public static func iops(_ value: Int?, type: VolumeType) throws -> Int? {
        guard let value else {
            if type.iopsRequired {
                throw Failure("missing IOPS: a volume of type \(type.rawValue) needs --iops", status: .usage)
            }
            return nil
        }
        guard type.iopsAllowed else {
            throw Failure("invalid option --iops for a volume of type \(type.rawValue): only gp3, io1 and io2 take it",
                          status: .usage)
        }
        guard (100...256_000).contains(value) else {
            throw Failure("invalid IOPS '\(value)': expected 100 to 256000", status: .usage)
        }
        return value
    }
}

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

/// The operations on volumes, against one client. ProgressLog goes to `progress`.
public struct Volumes: Sendable {
    public let client: AWSClient
    public var progress: ProgressLog

    public init(client: AWSClient, progress: ProgressLog = .silent) {
        self.client = client
        self.progress = progress
    }

    public var region: String { client.configuration.region }

    // MARK: list

    /// The caller's Portal Gun volumes (tag created-by = the caller's ARN),
    /// or with `all` every volume of the region, in listing order. One
    /// DescribeVolumes call (the identity is cached), more only if AWS pages.
    public func list(all: Bool = false) throws -> [Volume] {
        var filters: [(String, [String])] = []
        if !all { filters.append(("tag:\(Tag.createdBy)", [try client.callerARN()])) }
        return try describe(filters: filters).sorted(by: Volume.listingOrder)
    }

    /// The volumes with these ids, found through a filter so that a missing
    /// one is reported by name instead of failing the call.
    public func find(_ ids: [String]) throws -> (found: [Volume], missing: [String]) {
        guard !ids.isEmpty else { return ([], []) }
        let volumes = try describe(filters: [("volume-id", ids)])
        let byID = Dictionary(volumes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return (ids.compactMap { byID[$0] }, ids.filter { byID[$0] == nil })
    }

    /// One volume, or a failure that names it and the region.
    public func volume(_ id: String) throws -> Volume {
        guard let volume = try find([id]).found.first else { throw notFound(id) }
        return volume
    }

    func notFound(_ id: String) -> Failure {
        Failure("no volume '\(id)' in \(region)",
                hints: ["'portal volume list -a' lists every volume of the region; --region picks another"])
    }

    func describe(filters: [(String, [String])]) throws -> [Volume] {
        var parameters = QueryParameters()
        for (i, filter) in filters.enumerated() {
            parameters.pairs.append(("Filter.\(i + 1).Name", filter.0))
            for (j, value) in filter.1.enumerated() { parameters.pairs.append(("Filter.\(i + 1).Value.\(j + 1)", value)) }
        }
        var volumes: [Volume] = []
        var token: String?
        repeat {
            var page = parameters
            if let token { page["NextToken"] = token }
            let answer = try client.call("DescribeVolumes", page)
            volumes += try (answer["volumeSet"]?.arrayValue ?? []).map(Volume.init(json:))
            token = answer["nextToken"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return volumes
    }

    // MARK: create

    /// The region's zones that are available, in AWS's order.
    public func availabilityZones() throws -> [String] {
        let answer = try client.call("DescribeAvailabilityZones", QueryParameters([
            ("Filter.1.Name", "state"), ("Filter.1.Value.1", "available"),
        ]))
        return (answer["availabilityZoneInfo"]?.arrayValue ?? []).compactMap { $0["zoneName"]?.stringValue }
    }

    /// Creates the volume, tagged Name, created-by and the request's tags, and
    /// (unless `wait` is false) waits until it is available.
    public func create(_ request: VolumeRequest, wait: Bool = true, timeout: TimeInterval = 300) throws -> Volume {
        let arn = try client.callerARN()
        // One token for this creation: a retry after a lost answer creates nothing twice.
        let token = "portal-volume-" + UUID().uuidString.lowercased()
        let answer = try client.call("CreateVolume", request.parameters(createdBy: arn, clientToken: token))
        var volume = try Volume(json: answer)
        if volume.tags.isEmpty { volume.tags = Dictionary(request.allTags(createdBy: arn), uniquingKeysWith: { $1 }) }
        guard wait, volume.state != "available" else { return volume }
        progress("waiting for \(volume.summary) to become available")
        return try Volumes.waitUntilAvailable(volume, timeout: timeout) { try self.volume(volume.id) }
    }

    /// Polls until the volume is available: sub-second at first, backing off
    /// to a few seconds. `describe`, `sleep` and `now` are parameters so that
    /// tests need no clock.
    public static func waitUntilAvailable(
        _ volume: Volume, timeout: TimeInterval, describe: () throws -> Volume,
        sleep: (TimeInterval) -> Void = { sleep(seconds: $0) }, now: () -> Date = Date.init
    ) throws -> Volume {
        let started = now()
        var current = volume
        var delay = 0.25
        while current.state != "available" {
            if current.state == "error" || current.state == "deleting" || current.state == "deleted" {
                throw Failure("'\(current.id)' could not be created: its state is '\(current.state)'",
                              hints: ["delete it with 'portal volume delete \(current.id)' and try again"])
            }
            if now().timeIntervalSince(started) >= timeout {
                throw Failure("'\(current.id)' is still '\(current.state)' after \(Int(timeout)) s",
                              status: .temporary,
                              hints: ["'portal volume list' shows when it becomes available"])
            }
            sleep(delay)
            delay = min(delay * 2, 4)
            current = try describe()
        }
        return current
    }

    // MARK: ownership

    /// Refuses a volume that is not the caller's own (tag created-by), unless forced.
    public func checkOwner(_ volume: Volume, callerARN: String, force: Bool, verb: String) -> Failure? {
        guard !force, volume.createdBy != callerARN else { return nil }
        let hint = "use -f to \(verb) it anyway"
        if let owner = volume.createdBy {
            return Failure("'\(volume.id)' is not yours: it was created by \(owner); \(hint)")
        }
        return Failure("'\(volume.id)' was not created by Portal Gun (it has no \(Tag.createdBy) tag); \(hint)")
    }

    // MARK: update

    /// Renames, grows and tags one volume. Everything is checked before the
    /// first change: the volume exists, is the caller's (unless `force`), and
    /// would not shrink. Growing is ModifyVolume; the tags are one CreateTags.
    public func update(_ id: String, _ change: VolumeChange, force: Bool = false) throws -> VolumeUpdate {
        let volume = try self.volume(id)
        if let refusal = checkOwner(volume, callerARN: try client.callerARN(), force: force, verb: "update") {
            throw refusal
        }
        let grows = try change.checkSize(against: volume)
        var result = VolumeUpdate(volume: volume, resized: nil, tagged: [])
        if let size = change.sizeGiB {
            if grows {
                _ = try client.call("ModifyVolume", QueryParameters([("VolumeId", id), ("Size", String(size))]))
                result.resized = (volume.sizeGiB, size)
                result.volume.sizeGiB = size
            } else {
                progress("'\(id)' is already \(size) GiB: size unchanged")
            }
        }
        // A tag that already has its value is not written again.
        let tags = ((change.name.map { [(Tag.name, $0)] } ?? []) + change.tags).filter { volume.tags[$0.0] != $0.1 }
        if !tags.isEmpty {
            var parameters = QueryParameters([("ResourceId.1", id)])
            for (i, tag) in tags.enumerated() {
                parameters.pairs += [("Tag.\(i + 1).Key", tag.0), ("Tag.\(i + 1).Value", tag.1)]
                result.volume.tags[tag.0] = tag.1
            }
            _ = try client.call("CreateTags", parameters)
            result.tagged = tags.map(\.0)
        }
        return result
    }

    // MARK: delete

    /// Checks every volume before any is deleted: it exists, is the caller's
    /// (unless `force`), and is attached to nothing.
    public func planDeletion(_ ids: [String], force: Bool = false) throws -> VolumeDeletionPlan {
        var unique: [String] = []
        for id in ids where !unique.contains(id) { unique.append(id) }
        let found = try find(unique).found
        let arn = force ? "" : try client.callerARN()
        var plan = VolumeDeletionPlan(volumes: [], refusals: [])
        for id in unique {
            guard let volume = found.first(where: { $0.id == id }) else {
                plan.refusals.append(notFound(id))
                continue
            }
            if let refusal = checkOwner(volume, callerARN: arn, force: force, verb: "delete") {
                plan.refusals.append(refusal)
            } else if volume.isInUse {
                plan.refusals.append(Volumes.inUse(volume))
            } else {
                plan.volumes.append(volume)
            }
        }
        return plan
    }

    /// `'vol-…' is in use: attached to i-… (portal 'gpu'); close the portal first: portal close gpu`
    public static func inUse(_ volume: Volume, instance: String? = nil) -> Failure {
        let instance = instance ?? volume.instanceID
        var message = "'\(volume.id)' is in use"
        if let instance { message += ": attached to \(instance)" }
        if let portal = volume.portal {
            message += " (portal '\(portal)'); close the portal first: portal close \(portal)"
        } else {
            message += "; detach it first"
        }
        return Failure(message)
    }

    /// Deletes the volumes of a plan, one DeleteVolume each, in order;
    /// reports each on `progress`. A volume attached since it was checked is
    /// refused by AWS, and said so in the same words.
    public func delete(_ volumes: [Volume]) throws {
        for volume in volumes {
            do {
                _ = try client.call("DeleteVolume", QueryParameters([("VolumeId", volume.id)]))
            } catch let error as AWSError where error.code == "VolumeInUse" {
                let fresh = (try? self.volume(volume.id)) ?? volume
                throw Volumes.inUse(fresh)
            } catch let error as AWSError where error.code == "InvalidVolume.NotFound" {
                throw notFound(volume.id)
            }
            progress("deleted \(volume.summary)")
        }
    }
}
