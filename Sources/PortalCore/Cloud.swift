import PortalAWS
import PortalBase
import PortalModel

/// The AWS side of portals: finding, launching, attaching, closing. Every
/// step reads the state from AWS (tags), never from the laptop, so a crash
/// at any point leaves nothing a rerun or `portal close` cannot find.
public final class PortalCloud: @unchecked Sendable {
    // Unchecked: `arn` is written once under `lock`; the rest is immutable.
    public let client: AWSClient
    public let progress: ProgressLog
    private let lock = Lock()
    private var arn: String?

    public init(client: AWSClient, progress: ProgressLog = .silent) {
        self.client = client
        self.progress = progress
    }

    /// The caller's ARN (cached on disk by the client), for `created-by`.
    public func callerARN() throws -> String {
        if let arn = lock.withLock({ arn }) { return arn }
        let value = try client.callerARN()
        lock.withLock { arn = value }
        return value
    }

    func ec2(_ action: String, _ pairs: [(String, String)]) throws -> JSON {
        try client.call(action, QueryParameters(pairs))
    }

    /// Runs `body` for every element at the same time (each call on a
    /// connection of its own) and returns the results in order; the first
    /// error is thrown once all are done.
    func concurrently<T: Sendable, R>(_ items: [T], _ body: @Sendable (T) throws -> R) throws -> [R] {
        let lock = Lock()
        nonisolated(unsafe) var results = [Result<R, Error>?](repeating: nil, count: items.count)
        DispatchQueue.concurrentPerform(iterations: items.count) { i in
            let result = Result { try body(items[i]) }
            lock.withLock { results[i] = result }
        }
        return try results.map { try $0!.get() }
    }

    // MARK: Finding

    /// The live instances of the caller's portals (of one portal when named).
    public func openInstances(portal name: String? = nil) throws -> [Instance] {
        let arn = try callerARN()
        var filters: [(String, String)] = [
            ("Filter.1.Name", "tag:\(Tag.createdBy)"), ("Filter.1.Value.1", arn),
            ("Filter.2.Name", "instance-state-name"),
        ]
        for (i, state) in Instance.liveStates.enumerated() { filters.append(("Filter.2.Value.\(i + 1)", state)) }
        if let name {
            filters += [("Filter.3.Name", "tag:\(Tag.portalName)"), ("Filter.3.Value.1", name)]
        } else {
            filters += [("Filter.3.Name", "tag-key"), ("Filter.3.Value.1", Tag.portalName)]
        }
        return instances(in: try ec2("DescribeInstances", filters))
            .sorted { ($0.launchTime ?? "") < ($1.launchTime ?? "") }
    }

    /// The portal's live instance, or nil. Should a crash have left two, the
    /// oldest is the portal and the others are reported.
    public func findInstance(portal name: String) throws -> Instance? {
        let found = try openInstances(portal: name)
        if found.count > 1 {
            progress("warning: portal '\(name)' has \(found.count) live instances: "
                + found.map(\.id.rawValue).joined(separator: ", ") + "; using \(found[0].id); 'portal close \(name)' ends them all")
        }
        return found.first
    }

    public func describeInstance(_ id: String) throws -> Instance? {
        instances(in: try ec2("DescribeInstances", [("InstanceId.1", id)])).first
    }

    // MARK: Volumes of a spec

    /// The spec's volumes as EC2 has them now, in the spec's order. A volume
    /// that does not exist is an error naming its place in the spec.
    public func describeVolumes(of spec: PortalSpec) throws -> [Volume] {
        guard !spec.persistentVolumes.isEmpty else { return [] }
        let ids = spec.persistentVolumes.map(\.volumeID)
        let answer: JSON
        do {
            answer = try ec2("DescribeVolumes", ids.enumerated().map { ("VolumeId.\($0.offset + 1)", $0.element.rawValue) })
        } catch let error as AWSError where error.code == "InvalidVolume.NotFound" {
            let missing = ids.enumerated().first { error.message.contains($0.element.rawValue) }
            let place = missing.map { "persistent_volumes[\($0.offset)]: volume '\($0.element)'" } ?? "a volume of the spec"
            throw Failure("\(place) does not exist", status: .failure,
                          hints: ["'portal volume list' shows your volumes; 'portal volume create' makes one"])
        }
        let volumes = try (answer["volumeSet"]?.arrayValue ?? []).map(Volume.init(json:))
        let byID = Dictionary(volumes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return try ids.enumerated().map { index, id in
            guard let volume = byID[id] else {
                throw Failure("persistent_volumes[\(index)]: volume '\(id)' does not exist")
            }
            return volume
        }
    }

    /// Who holds a volume: `i-… (portal 'gpu')`.
    func holder(of volume: Volume) -> String? {
        guard let instance = volume.instanceID else { return nil }
        let portal = volume.tags[Tag.portalName].map { " (portal '\($0)')" } ?? ""
        return instance.rawValue + portal
    }

    /// Everything that would make a launch useless, checked before anything
    /// is spent: each volume exists, is available, and lies in the instance's
    /// zone (EBS attaches only within its zone).
    public func checkVolumesBeforeLaunch(_ spec: PortalSpec) throws {
        for (index, volume) in try describeVolumes(of: spec).enumerated() {
            let id = spec.persistentVolumes[index].volumeID
            let zone = volume.zone.isEmpty ? "?" : volume.zone
            if zone != spec.spotInstance.availabilityZone {
                throw Failure(
                    "persistent_volumes[\(index)]: volume '\(id)' is in \(zone), the instance would be in \(spec.spotInstance.availabilityZone)",
                    status: .failure,
                    hints: ["EBS volumes attach only within their availability zone: set spot_instance.availability_zone to \(zone)"])
            }
            let state = volume.state.isEmpty ? "?" : volume.state
            if state != "available" {
                let by = holder(of: volume).map { ": attached to \($0)" } ?? ""
                throw Failure("persistent_volumes[\(index)]: volume '\(id)' is \(state)\(by)",
                              hints: ["close the portal that holds it first ('portal list' shows them)"])
            }
        }
    }
}

extension PortalCloud {
    /// The instance's console text (GetConsoleOutput, decoded), where
    /// cloud-init prints the host key fingerprints; nil when there is none or
    /// it cannot be read (then host keys are trusted on first use).
    public func consoleOutput(instanceID: String) -> String? {
        guard InstanceID(instanceID) != nil,
            let answer = try? ec2("GetConsoleOutput", [("InstanceId", instanceID)]),
            let encoded = answer["output"]?.stringValue, !encoded.isEmpty
        else { return nil }
        let data = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) ?? Data(encoded.utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
