import PortalAWS
import PortalBase
import PortalModel

/// `portal gc`: what you created with Portal Gun that is still there, in
/// every region, with what it costs a month. Only resources tagged
/// `created-by` = your ARN are ever listed, and so deleted.
public struct Leftover: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        // The order of deletion: instances (with their requests) first, snapshots last.
        case instance, fleet = "spot fleet", spotRequest = "spot request", volume, snapshot

        public var plural: String { self == .instance || self == .snapshot || self == .volume ? rawValue + "s" : rawValue + "s" }
    }

    public var kind: Kind
    public var region: String
    public var id: String
    /// What it is, for people: `portal 'gpu', m5.large in us-east-1a, up 3 h`.
    public var detail: String
    /// Dollars a month it costs as it is; nil when unknown.
    public var monthly: Double?
    /// For an instance: its spot request and fleet, cancelled with it.
    public var spotRequestID: String?
    public var fleetID: String?

    public var json: JSON {
        ["kind": .string(kind.rawValue), "region": .string(region), "id": .string(id), "detail": .string(detail),
         "monthly_cost": monthly.map(JSON.double) ?? .null]
    }
}

public struct GarbageCollector: Sendable {
    public let configuration: AWSConfiguration
    public let arn: String
    public var progress: ProgressLog

    public init(configuration: AWSConfiguration, arn: String, progress: ProgressLog = .silent) {
        self.configuration = configuration
        self.arn = arn
        self.progress = progress
    }

    func client(_ region: String) -> AWSClient {
        var configuration = configuration
        configuration.region = region
        return AWSClient(configuration: configuration)
    }

    /// The regions enabled for the account (DescribeRegions in the configured one).
    public func regions() throws -> [String] {
        let answer = try client(configuration.region).call("DescribeRegions")
        return (answer["regionInfo"]?.arrayValue ?? []).compactMap { $0["regionName"]?.stringValue }.sorted()
    }

    /// Everything of yours in these regions, looked at all at once. A region
    /// that cannot be read is reported in `failures`, not fatal.
    public func scan(regions: [String], now: Date = Date()) -> (found: [Leftover], failures: [(String, Error)]) {
        let lock = Lock()
        nonisolated(unsafe) var found: [Leftover] = []
        nonisolated(unsafe) var failures: [(String, Error)] = []
        // Threads of its own, not concurrentPerform's one per core: the work is waiting on AWS.
        nonisolated(unsafe) var next = 0
        let group = DispatchGroup()
        for _ in 0..<min(regions.count, 16) {
            group.enter()
            detachThread {
                while let region = lock.withLock({ () -> String? in
                    defer { next += 1 }
                    return next < regions.count ? regions[next] : nil
                }) {
                    do {
                        let leftovers = try scan(region: region, now: now)
                        lock.withLock { found += leftovers }
                    } catch {
                        lock.withLock { failures.append((region, error)) }
                    }
                }
                group.leave()
            }
        }
        group.wait()
        let order = Dictionary(uniqueKeysWithValues: Leftover.Kind.allCases.enumerated().map { ($1, $0) })
        found.sort { (order[$0.kind]!, $0.region, $0.id) < (order[$1.kind]!, $1.region, $1.id) }
        return (found, failures.sorted { $0.0 < $1.0 })
    }

    func filters(_ list: [(String, [String])]) -> QueryParameters {
        var pairs: [(String, String)] = []
        for (i, filter) in list.enumerated() {
            pairs.append(("Filter.\(i + 1).Name", filter.0))
            for (j, value) in filter.1.enumerated() { pairs.append(("Filter.\(i + 1).Value.\(j + 1)", value)) }
        }
        return QueryParameters(pairs)
    }

    public func scan(region: String, now: Date = Date()) throws -> [Leftover] {
        let ec2 = client(region)
        let mine = ("tag:\(Tag.createdBy)", [arn])
        var found: [Leftover] = []

        // Instances: every live one is billing, portal or not.
        let live = instances(in: try ec2.call("DescribeInstances", filters([
            mine, ("instance-state-name", Instance.liveStates),
        ])))
        let prices = live.isEmpty ? [] : (try? SpotPrices(client: ec2).latest(types: Array(Set(live.map(\.type))), now: now)) ?? []
        for instance in live {
            let price = prices.first { $0.instanceType == instance.type && $0.zone == instance.zone }?.price
            var detail = instance.portalName.map { "portal '\($0)', " } ?? "no portal, "
            detail += "\(instance.type) in \(instance.zone), \(instance.state)"
            if let uptime = instance.uptime { detail += ", up \(humanDuration(uptime))" }
            found.append(Leftover(kind: .instance, region: region, id: instance.id.rawValue, detail: detail,
                                  monthly: price.map { $0 * EBSPricing.hoursPerMonth },
                                  spotRequestID: instance.spotRequestID, fleetID: instance.spotFleetRequestID))
        }
        let liveIDs = Set(live.map(\.id.rawValue))

        // Spot requests still open or active without a live instance of theirs.
        let requests = try ec2.call("DescribeSpotInstanceRequests", filters([mine, ("state", ["open", "active"])]))
        for request in requests["spotInstanceRequestSet"]?.arrayValue ?? [] {
            guard let id = request["spotInstanceRequestId"]?.stringValue else { continue }
            let instance = request["instanceId"]?.stringValue
            if let instance, liveIDs.contains(instance) { continue }
            let tags = Tag.dictionary(request["tagSet"])
            found.append(Leftover(kind: .spotRequest, region: region, id: id,
                                  detail: (tags[Tag.portalName].map { "portal '\($0)', " } ?? "")
                                      + "\(request["state"]?.stringValue ?? "?"), no instance running; bills once it launches one",
                                  monthly: 0))
        }

        // Fleets still active: DescribeSpotFleetRequests has no tag filter, so the tags are read here.
        var token: String?
        repeat {
            var page = QueryParameters()
            if let token { page["NextToken"] = token }
            let answer = try ec2.call("DescribeSpotFleetRequests", page)
            for fleet in answer["spotFleetRequestConfigSet"]?.arrayValue ?? [] {
                let tags = Tag.dictionary(fleet["tagSet"])
                guard tags[Tag.createdBy] == arn, let id = fleet["spotFleetRequestId"]?.stringValue,
                    let state = fleet["spotFleetRequestState"]?.stringValue,
                    ["submitted", "active", "modifying"].contains(state)
                else { continue }
                if live.contains(where: { $0.spotFleetRequestID == id }) { continue }
                found.append(Leftover(kind: .fleet, region: region, id: id,
                                      detail: (tags[Tag.portalName].map { "portal '\($0)', " } ?? "")
                                          + "\(state), no instance running; bills once it launches one",
                                      monthly: 0))
            }
            token = answer["nextToken"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil

        // Volumes attached to nothing (an attached one is held: never listed, never deleted).
        for volume in try Volumes(client: ec2).describe(filters: [mine]) where !volume.isInUse && volume.state == "available" {
            var detail = "\(volume.name.map { "'\($0)', " } ?? "")\(volume.sizeGiB) GiB \(volume.type) in \(volume.zone)"
            if let to = volume.tags[VolumeMove.movedToTag] { detail += ", moved to \(to)" }
            found.append(Leftover(kind: .volume, region: region, id: volume.id.rawValue, detail: detail,
                                  monthly: EBSPricing.monthly(volume: volume, region: region)))
        }

        // Snapshots.
        var snapshotParameters = filters([mine])
        snapshotParameters.pairs.append(("Owner.1", "self"))
        for snapshot in try ec2.call("DescribeSnapshots", snapshotParameters)["snapshotSet"]?.arrayValue ?? [] {
            guard let id = snapshot["snapshotId"]?.stringValue else { continue }
            let size = Int(snapshot["volumeSize"]?.intValue ?? 0)
            let tags = Tag.dictionary(snapshot["tagSet"])
            var detail = "\(size) GiB, of \(snapshot["volumeId"]?.stringValue ?? "?")"
            if let of = tags[VolumeMove.moveOfTag] { detail += ", left by a move of \(of)" }
            found.append(Leftover(kind: .snapshot, region: region, id: id, detail: detail,
                                  monthly: EBSPricing.monthly(snapshotGiB: size, region: region)))
        }
        return found
    }

    /// Deletes the leftovers, in the order of their kinds; each one that
    /// fails is reported and the others still go.
    public func delete(_ leftovers: [Leftover]) -> [(Leftover, Error?)] {
        leftovers.map { item in
            do {
                try delete(item)
                return (item, nil)
            } catch {
                return (item, error)
            }
        }
    }

    func delete(_ item: Leftover) throws {
        let ec2 = client(item.region)
        switch item.kind {
        case .instance:
            try PortalCloud(client: ec2).cleanUp(instanceID: item.id, requestID: item.spotRequestID, fleetID: item.fleetID)
        case .fleet:
            // Its instances go with it, if it launched any since the scan.
            let running = try ec2.call("DescribeSpotFleetInstances", QueryParameters([("SpotFleetRequestId", item.id)]))
            let any = !(running["activeInstanceSet"]?.arrayValue ?? []).isEmpty
            _ = try ec2.call("CancelSpotFleetRequests", QueryParameters([
                ("SpotFleetRequestId.1", item.id), ("TerminateInstances", any ? "true" : "false"),
            ]))
        case .spotRequest:
            _ = try ec2.call("CancelSpotInstanceRequests", QueryParameters([("SpotInstanceRequestId.1", item.id)]))
        case .volume:
            // Looked at again just before: attached since the scan means held.
            guard let id = VolumeID(item.id) else { throw Failure("'\(item.id)' is not a volume id: kept") }
            let volume = try Volumes(client: ec2).volume(id)
            guard !volume.isInUse, volume.createdBy == arn else {
                throw Failure("'\(item.id)' is attached to \(volume.instanceID?.rawValue ?? "an instance") now: kept")
            }
            _ = try ec2.call("DeleteVolume", QueryParameters([("VolumeId", item.id)]))
        case .snapshot:
            _ = try ec2.call("DeleteSnapshot", QueryParameters([("SnapshotId", item.id)]))
        }
    }
}
