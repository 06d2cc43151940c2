import PortalAWS
import PortalBase
import PortalModel

/// Why an instance ended, as AWS tells it: the instance's state reason and,
/// for a Spot Instance, its request's status.
public struct Ending: Equatable, Sendable {
    public var instanceID: String
    public var state: String
    /// `Server.SpotInstanceTermination`, `Client.InstanceInitiatedShutdown`, …
    public var reasonCode: String?
    public var reasonMessage: String?
    /// `instance-terminated-by-price`, `marked-for-termination`, …
    public var spotStatus: String?
    /// When the spot request's status last changed (ISO 8601), else the
    /// time in the instance's state transition reason.
    public var time: String?

    public init(instanceID: String, state: String, reasonCode: String? = nil, reasonMessage: String? = nil,
                spotStatus: String? = nil, time: String? = nil) {
        self.instanceID = instanceID
        self.state = state
        self.reasonCode = reasonCode
        self.reasonMessage = reasonMessage
        self.spotStatus = spotStatus
        self.time = time
    }

    /// Spot request statuses that mean AWS took the instance back.
    static let awsStatuses: Set<String> = [
        "marked-for-termination", "instance-terminated-by-price", "instance-terminated-no-capacity",
        "instance-terminated-capacity-oversubscribed", "instance-terminated-launch-group-constraint",
        "instance-terminated-by-experiment", "instance-stopped-by-price", "instance-stopped-no-capacity",
    ]

    public var interruptedByAWS: Bool {
        reasonCode == "Server.SpotInstanceTermination" || spotStatus.map(Ending.awsStatuses.contains) == true
    }

    /// Shut down from inside: the deadline or idle stop (or someone's `shutdown`).
    public var shutDownFromInside: Bool { reasonCode == "Client.InstanceInitiatedShutdown" }

    /// `interrupted by AWS at 2026-12-01T22:00:00Z (spot request status instance-terminated-by-price)`
    public var summary: String {
        let when = time.map { " at \($0)" } ?? ""
        if interruptedByAWS {
            return "interrupted by AWS\(when)" + (spotStatus.map { " (spot request status \($0))" } ?? "")
        }
        if shutDownFromInside { return "stopped itself\(when) (deadline or idle stop)" }
        return "\(state)\(when)" + (reasonMessage.map { " (\($0))" } ?? "")
    }

    public var json: JSON {
        var object = JSONObject()
        object["instance_id"] = .string(instanceID)
        object["state"] = .string(state)
        object["interrupted_by_aws"] = .bool(interruptedByAWS)
        object["reason_code"] = reasonCode.map(JSON.string) ?? .null
        object["reason"] = reasonMessage.map(JSON.string) ?? .null
        object["spot_status"] = spotStatus.map(JSON.string) ?? .null
        object["time"] = time.map(JSON.string) ?? .null
        return .object(object)
    }
}

extension PortalCloud {
    /// The tag on an instance that holds its deadline (ISO 8601), for `portal info`.
    public static let deadlineTag = "portal-deadline"

    /// How an instance ended (or stands): nil if AWS no longer knows it.
    public func ending(of instanceID: String) throws -> Ending? {
        guard let item = try ec2("DescribeInstances", [("InstanceId.1", instanceID)])["reservationSet"]?[0]?["instancesSet"]?[0]
        else { return nil }
        return try ending(item: item)
    }

    func ending(item: JSON) throws -> Ending {
        guard let instance = Instance(ec2: item) else { throw Failure("EC2 answered with an instance without an instance id") }
        var ending = Ending(instanceID: instance.id.rawValue, state: instance.state,
                            reasonCode: item["stateReason"]?["code"]?.stringValue,
                            reasonMessage: item["stateReason"]?["message"]?.stringValue)
        // "User initiated (2026-12-01 22:00:00 GMT)": the time in the transition reason.
        if let reason = item["reason"]?.stringValue, let open = reason.lastIndex(of: "("), reason.hasSuffix(")") {
            ending.time = String(reason[reason.index(after: open)..<reason.index(before: reason.endIndex)])
        }
        if let request = instance.spotRequestID,
            let status = try? ec2("DescribeSpotInstanceRequests", [("SpotInstanceRequestId.1", request)])[
                "spotInstanceRequestSet"]?[0]?["status"]
        {
            ending.spotStatus = status["code"]?.stringValue
            if ending.interruptedByAWS, let time = status["updateTime"]?.stringValue { ending.time = time }
        }
        return ending
    }

    /// The portal's most recent instance that has ended (AWS keeps terminated
    /// instances for about an hour), and how; nil when there is none.
    public func lastEnding(portal name: String) throws -> Ending? {
        try lastEndings(portal: name)[name]
    }

    /// The most recent ended instance of each portal (or of one), and how it ended.
    public func lastEndings(portal name: String? = nil) throws -> [String: Ending] {
        let arn = try callerARN()
        var filters = [
            ("Filter.1.Name", "tag:\(Tag.createdBy)"), ("Filter.1.Value.1", arn),
            ("Filter.2.Name", "instance-state-name"), ("Filter.2.Value.1", "shutting-down"), ("Filter.2.Value.2", "terminated"),
        ]
        if let name {
            filters += [("Filter.3.Name", "tag:\(Tag.portalName)"), ("Filter.3.Value.1", name)]
        } else {
            filters += [("Filter.3.Name", "tag-key"), ("Filter.3.Value.1", Tag.portalName)]
        }
        let answer = try ec2("DescribeInstances", filters)
        let items = (answer["reservationSet"]?.arrayValue ?? []).flatMap { $0["instancesSet"]?.arrayValue ?? [] }
        var latest: [String: JSON] = [:]
        for item in items {
            guard let portal = Tag.dictionary(item["tagSet"])[Tag.portalName] else { continue }
            if let known = latest[portal], (known["launchTime"]?.stringValue ?? "") >= (item["launchTime"]?.stringValue ?? "") {
                continue
            }
            latest[portal] = item
        }
        return try latest.mapValues { try ending(item: $0) }
    }

    /// Records an instance's deadline in its tag.
    public func tagDeadline(instanceID: InstanceID, deadline: Date) throws {
        _ = try ec2("CreateTags", [("ResourceId.1", instanceID.rawValue), ("Tag.1.Key", PortalCloud.deadlineTag),
                                   ("Tag.1.Value", Ending.iso(deadline))])
    }
}

extension Ending {
    /// `2026-12-01T22:00:00Z`.
    public static func iso(_ date: Date) -> String { iso8601(date, fractional: false) }

    public static func date(_ text: String) -> Date? { parseISO8601(text) }
}

extension Instance {
    /// The deadline its tag records, if any.
    public var deadline: Date? { tags[PortalCloud.deadlineTag].flatMap(Ending.date) }
}
