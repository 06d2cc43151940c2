import PortalAWS
import PortalBase
import PortalModel

/// `portal volume move VOL -z ZONE`: an EBS volume lives in one zone, so it
/// is moved through a snapshot. Every step finds what an earlier run left by
/// tags, so a rerun after Ctrl-C or a crash continues instead of starting
/// over, and nothing is deleted before its copy is available:
///
/// 1. snapshot: the snapshot tagged `portal-move-of` = the old id, or a new one;
///    wait until it is completed;
/// 2. copy: the volume tagged `portal-moved-from` = the old id in the new zone, or
///    a new one from the snapshot with the same size, type, IOPS, throughput and
///    encryption, and the old volume's tags; wait until it is available and
///    check that it matches;
/// 3. retag: the old volume gets `portal-moved-to` = the new id;
/// 4. delete (after a yes): the old volume, then the snapshot.
public struct VolumeMove: Sendable {
    public static let moveOfTag = "portal-move-of"
    public static let movedFromTag = "portal-moved-from"
    public static let movedToTag = "portal-moved-to"
    /// Tags not carried to the copy: AWS's own, and those of an attachment.
    static let notCopied: Set<String> = [Tag.portalName, Tag.mountPoint, movedToTag, movedFromTag]

    public let volumes: Volumes
    public var timeout: TimeInterval = 3600
    var client: AWSClient { volumes.client }
    var progress: ProgressLog { volumes.progress }

    public init(volumes: Volumes) { self.volumes = volumes }

    /// What a move ended with.
    public struct Outcome: Sendable {
        public var old: VolumeID
        public var new: Volume
        public var snapshotID: String?
        /// Whether the old volume and the snapshot are gone.
        public var deleted: Bool
    }

    /// Moves the volume; `confirm` is asked before anything is deleted.
    public func move(_ id: VolumeID, to zone: String, confirm: (String) -> Bool) throws -> Outcome {
        let arn = try client.callerARN()
        let found = try volumes.find([id]).found.first
        guard let old = found else {
            // Gone: a run that got as far as deleting it. Finish what is left.
            guard let copy = try copies(of: id.rawValue).first else { throw volumes.notFound(id) }
            progress("'\(id)' was already moved to \(copy.summary)")
            let snapshot = try snapshots(of: id.rawValue).first
            var deleted = true
            if let snapshot {
                deleted = confirm("delete the snapshot \(snapshot) of the move, which is left?")
                if deleted { try deleteSnapshot(snapshot) }
            }
            return Outcome(old: id, new: copy, snapshotID: snapshot, deleted: deleted)
        }
        guard old.createdBy == arn else {
            throw Failure("'\(id)' is not yours: its created-by tag is \(old.createdBy.map { "'\($0)'" } ?? "missing")",
                          hints: ["Portal Gun moves only the volumes you created with it"])
        }
        if old.isInUse {
            throw Failure("'\(id)' is in use: attached to \(old.instanceID?.rawValue ?? "an instance")"
                + (old.portal.map { " (portal '\($0)')" } ?? ""),
                hints: ["close the portal that holds it first ('portal list' shows them)"])
        }
        let existing = try copies(of: id.rawValue).first { $0.zone == zone }
        if old.zone == zone && existing == nil {
            throw Failure("'\(id)' is already in \(zone)", status: .usage)
        }

        // 1. The snapshot (not needed once the copy exists).
        var snapshotID = try snapshots(of: id.rawValue).first
        var copy = existing
        if copy == nil {
            if let snapshotID {
                progress("step 1/4: continuing with the snapshot \(snapshotID) of '\(id)'")
            } else {
                progress("step 1/4: snapshot of \(old.summary)")
                snapshotID = try createSnapshot(of: old, arn: arn, zone: zone)
            }
            try waitForSnapshot(snapshotID!)

            // 2. The copy in the new zone.
            try Interruption.check()
            progress("step 2/4: creating the copy of '\(id)' in \(zone) from \(snapshotID!)")
            copy = try createCopy(of: old, from: snapshotID!, zone: zone, arn: arn)
        } else {
            progress("step 2/4: continuing with the copy \(copy!.summary)")
        }
        var new = copy!
        if new.state != "available" {
            progress("waiting for \(new.summary) to become available")
            new = try Volumes.waitUntilAvailable(new, timeout: timeout, describe: { try volumes.volume(new.id) },
                                                 sleep: { Interruption.sleep($0) })
        }
        try VolumeMove.check(copy: new, of: old)
        try Interruption.check()

        // 3. The old volume points at its copy.
        if old.tags[VolumeMove.movedToTag] != new.id.rawValue {
            progress("step 3/4: tagging '\(id)' \(VolumeMove.movedToTag)=\(new.id)")
            _ = try client.call("CreateTags", QueryParameters([
                ("ResourceId.1", id.rawValue), ("Tag.1.Key", VolumeMove.movedToTag), ("Tag.1.Value", new.id.rawValue),
            ]))
        }
        try Interruption.check()

        // 4. Only now, and only after a yes: the old volume and the snapshot.
        let what = "'\(id)' (the old volume, in \(old.zone))" + (snapshotID.map { " and the snapshot \($0)" } ?? "")
        guard confirm("delete \(what)? the copy \(new.id) in \(zone) is available") else {
            return Outcome(old: id, new: new, snapshotID: snapshotID, deleted: false)
        }
        progress("step 4/4: deleting '\(id)'")
        _ = try client.call("DeleteVolume", QueryParameters([("VolumeId", id.rawValue)]))
        if let snapshotID { try deleteSnapshot(snapshotID) }
        return Outcome(old: id, new: new, snapshotID: snapshotID, deleted: true)
    }

    // MARK: steps

    /// The move's snapshots of the volume (tag portal-move-of), newest first.
    func snapshots(of id: String) throws -> [String] {
        let answer = try client.call("DescribeSnapshots", QueryParameters([
            ("Owner.1", "self"), ("Filter.1.Name", "tag:\(VolumeMove.moveOfTag)"), ("Filter.1.Value.1", id),
        ]))
        return (answer["snapshotSet"]?.arrayValue ?? [])
            .filter { $0["status"]?.stringValue != "error" }
            .sorted { ($0["startTime"]?.stringValue ?? "") > ($1["startTime"]?.stringValue ?? "") }
            .compactMap { $0["snapshotId"]?.stringValue }
    }

    /// The copies of the volume (tag portal-moved-from), in any zone.
    func copies(of id: String) throws -> [Volume] {
        try volumes.describe(filters: [("tag:\(VolumeMove.movedFromTag)", [id])])
            .filter { !["deleting", "deleted", "error"].contains($0.state) }
    }

    func createSnapshot(of old: Volume, arn: String, zone: String) throws -> String {
        var pairs = [("VolumeId", old.id.rawValue), ("Description", "portal volume move \(old.id) -z \(zone)")]
        pairs += Tag.specification(1, resourceType: "snapshot", [
            (Tag.name, "move of \(old.name ?? old.id.rawValue) to \(zone)"), (Tag.createdBy, arn), (VolumeMove.moveOfTag, old.id.rawValue),
        ])
        let answer = try client.call("CreateSnapshot", QueryParameters(pairs))
        guard let id = answer["snapshotId"]?.stringValue else { throw Failure("EC2 answered CreateSnapshot without a snapshotId") }
        return id
    }

    /// Polls until the snapshot is completed, saying its progress.
    func waitForSnapshot(_ id: String) throws {
        let started = Date()
        var pause = 0.25
        var said = ""
        while true {
            let answer = try client.call("DescribeSnapshots", QueryParameters([("SnapshotId.1", id)]))
            let snapshot = answer["snapshotSet"]?[0]
            let state = snapshot?["status"]?.stringValue ?? "?"
            let percent = snapshot?["progress"]?.stringValue ?? ""
            if state == "completed" {
                progress("snapshot \(id): completed (\(humanDuration(Date().timeIntervalSince(started))))")
                return
            }
            if state == "error" {
                throw Failure("snapshot \(id) failed: \(snapshot?["statusMessage"]?.stringValue ?? "state 'error'")",
                              hints: ["delete it ('portal-ec2 DeleteSnapshot') and run the move again"])
            }
            if "\(state) \(percent)" != said {
                said = "\(state) \(percent)"
                progress("snapshot \(id): \(state)\(percent.isEmpty ? "" : " \(percent)") "
                    + "(\(humanDuration(Date().timeIntervalSince(started))))")
            }
            if Date().timeIntervalSince(started) > timeout {
                throw Failure("snapshot \(id) is still \(state) after \(humanDuration(timeout))", status: .temporary,
                              hints: ["run the move again later: it continues with this snapshot"])
            }
            Interruption.sleep(pause)
            try Interruption.check()
            pause = min(pause * 1.5, 5)
        }
    }

    /// CreateVolume's parameters for the copy: the old volume's size, type,
    /// IOPS, throughput, encryption and tags, plus portal-moved-from. The client
    /// token is the same for every attempt at this copy, so a retry after a lost
    /// answer creates nothing twice.
    static func copyParameters(of old: Volume, from snapshot: String, zone: String, arn: String) -> QueryParameters {
        var pairs = [("AvailabilityZone", zone), ("SnapshotId", snapshot), ("Size", String(old.sizeGiB)),
                     ("VolumeType", old.type)]
        if let iops = old.iops, ["io1", "io2", "gp3"].contains(old.type) { pairs.append(("Iops", String(iops))) }
        if let throughput = old.throughput, old.type == "gp3" { pairs.append(("Throughput", String(throughput))) }
        if old.encrypted {
            pairs.append(("Encrypted", "true"))
            if let key = old.kmsKeyID { pairs.append(("KmsKeyId", key)) }
        }
        pairs.append(("ClientToken", "portal-move-\(old.id)-\(zone)"))
        var tags = old.tags.filter { !$0.key.lowercased().hasPrefix("aws:") && !notCopied.contains($0.key) }
        tags[Tag.createdBy] = arn
        tags[movedFromTag] = old.id.rawValue
        pairs += Tag.specification(1, resourceType: "volume", tags.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return QueryParameters(pairs)
    }

    func createCopy(of old: Volume, from snapshot: String, zone: String, arn: String) throws -> Volume {
        let answer = try client.call("CreateVolume", VolumeMove.copyParameters(of: old, from: snapshot, zone: zone, arn: arn))
        return try Volume(json: answer)
    }

    /// The copy must match the original before the original may go.
    public static func check(copy new: Volume, of old: Volume) throws {
        var differences: [String] = []
        if new.sizeGiB != old.sizeGiB { differences.append("size \(new.sizeGiB) GiB, not \(old.sizeGiB)") }
        if new.type != old.type { differences.append("type \(new.type), not \(old.type)") }
        if old.iops != nil, new.iops != old.iops { differences.append("IOPS \(new.iops ?? 0), not \(old.iops!)") }
        if old.throughput != nil, new.throughput != old.throughput {
            differences.append("throughput \(new.throughput ?? 0), not \(old.throughput!)")
        }
        if new.encrypted != old.encrypted { differences.append(new.encrypted ? "encrypted" : "not encrypted") }
        if new.state != "available" { differences.append("state \(new.state)") }
        guard differences.isEmpty else {
            throw Failure("the copy \(new.id) of '\(old.id)' does not match it: " + differences.joined(separator: ", "),
                          hints: ["nothing was deleted; delete the copy ('portal volume delete \(new.id)') and run the move again"])
        }
    }

    func deleteSnapshot(_ id: String) throws {
        progress("deleting the snapshot \(id)")
        do {
            _ = try client.call("DeleteSnapshot", QueryParameters([("SnapshotId", id)]))
        } catch let error as AWSError where error.code == "InvalidSnapshot.NotFound" {}
    }

    // MARK: specs

    /// A spec file that names a volume: where, and whether its zone must change too.
    public struct SpecReference: Equatable, Sendable {
        public var file: String
        public var index: Int
        public var zone: String?
    }

    /// The spec files (*.json) of a folder whose persistent_volumes name `id`.
    public static func specs(naming id: String, in folder: String) -> [SpecReference] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var found: [SpecReference] = []
        for file in files {
            let path = folder == "." ? file : folder + (folder.hasSuffix("/") ? "" : "/") + file
            guard let data = FileManager.default.contents(atPath: path), let json = try? JSON(parsing: Array(data)) else {
                continue
            }
            for (index, volume) in (json["persistent_volumes"]?.arrayValue ?? []).enumerated()
            where volume[DocumentKey.volumeID]?.stringValue == id {
                found.append(SpecReference(file: path, index: index,
                                           zone: json["spot_instance"]?["availability_zone"]?.stringValue))
            }
        }
        return found
    }
}
