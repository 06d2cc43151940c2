import PortalAWS
import PortalBase
import PortalModel

// What `portal volume create | list | update | delete` do (the types they take:
// VolumeRequests.swift; a volume: PortalModel's Volume.swift).

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
    public func find(_ ids: [VolumeID]) throws -> (found: [Volume], missing: [VolumeID]) {
        guard !ids.isEmpty else { return ([], []) }
        let volumes = try describe(filters: [("volume-id", ids.map(\.rawValue))])
        let byID = Dictionary(volumes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return (ids.compactMap { byID[$0] }, ids.filter { byID[$0] == nil })
    }

    /// One volume, or a failure that names it and the region.
    public func volume(_ id: VolumeID) throws -> Volume {
        guard let volume = try find([id]).found.first else { throw notFound(id) }
        return volume
    }

    func notFound(_ id: VolumeID) -> Failure {
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
    public func update(_ id: VolumeID, _ change: VolumeChange, force: Bool = false) throws -> VolumeUpdate {
        let volume = try self.volume(id)
        if let refusal = checkOwner(volume, callerARN: try client.callerARN(), force: force, verb: "update") {
            throw refusal
        }
        let grows = try change.checkSize(against: volume)
        var result = VolumeUpdate(volume: volume, resized: nil, tagged: [])
        if let size = change.sizeGiB {
            if grows {
                _ = try client.call("ModifyVolume", QueryParameters([("VolumeId", id.rawValue), ("Size", String(size))]))
                result.resized = (volume.sizeGiB, size)
                result.volume.sizeGiB = size
            } else {
                progress("'\(id)' is already \(size) GiB: size unchanged")
            }
        }
        // A tag that already has its value is not written again.
        let tags = ((change.name.map { [(Tag.name, $0)] } ?? []) + change.tags).filter { volume.tags[$0.0] != $0.1 }
        if !tags.isEmpty {
            var parameters = QueryParameters([("ResourceId.1", id.rawValue)])
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
    public func planDeletion(_ ids: [VolumeID], force: Bool = false) throws -> VolumeDeletionPlan {
        var unique: [VolumeID] = []
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
        let instance = instance ?? volume.instanceID?.rawValue
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
                _ = try client.call("DeleteVolume", QueryParameters([("VolumeId", volume.id.rawValue)]))
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
