import PortalBase

/// An EC2 instance as the portal document carries it under `"instance"`.
public struct Instance: Equatable, Sendable {
    public var id: InstanceID
    public var type: String
    public var zone: String
    public var state: String
    public var publicIP: String?
    public var privateIP: String?
    public var publicDNS: String?
    public var privateDNS: String?
    public var launchTime: String?
    public var lifecycle: String?
    public var spotRequestID: String?
    public var spotFleetRequestID: String?
    public var tags: [String: String]
    /// The EBS volumes attached, from `blockDeviceMapping` (not kept in documents).
    public var volumeIDs: [VolumeID] = []

    /// From one `instancesSet` item of a DescribeInstances or RunInstances
    /// answer; nil without an instance id.
    public init?(ec2 item: JSON) {
        func string(_ key: String) -> String? {
            guard let value = item[key]?.stringValue, !value.isEmpty else { return nil }
            return value
        }
        guard let id = string("instanceId").flatMap(InstanceID.init) else { return nil }
        self.id = id
        tags = Tag.dictionary(item["tagSet"])
        type = string("instanceType") ?? ""
        zone = item["placement"]?["availabilityZone"]?.stringValue ?? ""
        state = item["instanceState"]?["name"]?.stringValue ?? "unknown"
        publicIP = string("ipAddress")
        privateIP = string("privateIpAddress")
        publicDNS = string("dnsName")
        privateDNS = string("privateDnsName")
        launchTime = string("launchTime")
        lifecycle = string("instanceLifecycle") ?? "on-demand"
        spotRequestID = string("spotInstanceRequestId")
        spotFleetRequestID = tags["aws:ec2spot:fleet-request-id"]
        volumeIDs = (item["blockDeviceMapping"]?.arrayValue ?? []).compactMap {
            $0["ebs"]?["volumeId"]?.stringValue.flatMap(VolumeID.init)
        }
    }

    /// From a document's `"instance"`. The id is checked here: it names the
    /// instance's host key in known_hosts and goes to ssh.
    public init(document json: JSON) throws {
        guard let text = json["id"]?.stringValue, !text.isEmpty else {
            throw Failure("<stdin>: instance.id: required, not found", status: .dataError,
                          hints: ["pipe in the output of portal-spot-request or portal-find"])
        }
        let id = try InstanceID.document(text, at: "<stdin>: instance.id")
        func string(_ key: String) -> String? { json[key]?.stringValue }
        self.id = id
        type = string("type") ?? ""
        zone = string("zone") ?? ""
        state = string("state") ?? "unknown"
        publicIP = string("public_ip")
        privateIP = string("private_ip")
        publicDNS = string("public_dns")
        privateDNS = string("private_dns")
        launchTime = string("launch_time")
        lifecycle = string("lifecycle")
        spotRequestID = string("spot_request_id")
        spotFleetRequestID = string("spot_fleet_request_id")
        tags = [:]
        for (key, value) in json["tags"]?.objectValue ?? JSONObject() { tags[key] = value.stringValue ?? "" }
    }

    public var json: JSON {
        var object = JSONObject()
        object["id"] = id.json
        object["type"] = .string(type)
        object["zone"] = .string(zone)
        object["state"] = .string(state)
        object["public_ip"] = publicIP.map(JSON.string) ?? .null
        object["private_ip"] = privateIP.map(JSON.string) ?? .null
        object["public_dns"] = publicDNS.map(JSON.string) ?? .null
        object["private_dns"] = privateDNS.map(JSON.string) ?? .null
        object["launch_time"] = launchTime.map(JSON.string) ?? .null
        object["lifecycle"] = lifecycle.map(JSON.string) ?? .null
        if let spotRequestID { object["spot_request_id"] = .string(spotRequestID) }
        if let spotFleetRequestID { object["spot_fleet_request_id"] = .string(spotFleetRequestID) }
        var tagObject = JSONObject()
        for key in tags.keys.sorted() { tagObject[key] = .string(tags[key]!) }
        object["tags"] = .object(tagObject)
        return .object(object)
    }

    public var portalName: String? { tags[Tag.portalName] }

    /// Seconds since launch, when the launch time is known.
    public var uptime: TimeInterval? {
        guard let launchTime, let date = parseISO8601(launchTime) else { return nil }
        return Date().timeIntervalSince(date)
    }

    /// Live: not yet, or no longer, on its way out.
    public static let liveStates = ["pending", "running", "stopping", "stopped"]
}

/// Every instance of a DescribeInstances answer (all reservations).
public func instances(in answer: JSON) -> [Instance] {
    (answer["reservationSet"]?.arrayValue ?? []).flatMap { reservation in
        (reservation["instancesSet"]?.arrayValue ?? []).compactMap(Instance.init(ec2:))
    }
}

/// `3 h 12 min`, `45 s`: a duration for people.
public func humanDuration(_ seconds: TimeInterval) -> String {
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s) s" }
    if s < 3600 { return "\(s / 60) min \(s % 60) s" }
    if s < 86400 { return "\(s / 3600) h \(s % 3600 / 60) min" }
    return "\(s / 86400) d \(s % 86400 / 3600) h"
}
