import Foundation
import PortalAWS
import PortalBase

/// How the Spot Instance is asked for.
public enum LaunchAPI: String, Sendable, CaseIterable {
    /// RunInstances with spot market options (one-time, terminate on interruption).
    case runInstances = "run-instances"
    /// RequestSpotInstances, the older spot request API.
    case spotRequest = "spot-request"
    /// RequestSpotFleet (chosen by `spot_fleet` in the spec).
    case spotFleet = "spot-fleet"
}

public struct LaunchOptions: Sendable {
    public var api: LaunchAPI?
    /// Seconds to wait for the instance to run.
    public var timeout: Double = 600
    /// The first and the longest pause between two polls.
    public var firstPoll: Double = 0.25
    public var longestPoll: Double = 5
    public init() {}
}

/// Spot request status codes in words, with what to do.
let spotStatusWords: [String: String] = [
    "pending-evaluation": "waiting for AWS to evaluate the request",
    "pending-fulfillment": "AWS is looking for capacity",
    "capacity-not-available": "no spare capacity for this type in this zone now",
    "capacity-oversubscribed": "capacity for this type is oversubscribed",
    "price-too-low": "the maximum price is below the current spot price",
    "not-scheduled-yet": "not scheduled yet",
    "launch-group-constraint": "the launch group cannot be met",
    "az-group-constraint": "the zone group cannot be met",
    "placement-group-constraint": "the placement group cannot be met",
    "constraint-not-fulfillable": "a constraint cannot be met",
    "fulfilled": "fulfilled",
    "bad-parameters": "the request's parameters are invalid",
    "system-error": "an AWS system error",
]

extension PortalCloud {
    /// Launches the portal's Spot Instance and waits until it runs. Refuses,
    /// before anything is spent, when the portal is already open or a volume
    /// cannot be attached. On Ctrl-C or timeout it cancels the request,
    /// terminates whatever it produced, waits for AWS to confirm, then throws
    /// (exit 130 or 75): nothing is left running.
    public func launch(_ document: PortalDocument, options: LaunchOptions = LaunchOptions(),
                       knownClosed: Bool = false) throws -> Instance
    {
        let name = document.name
        let spec = document.spec
        if !knownClosed, let open = try findInstance(portal: name) {
            throw Failure("portal '\(name)' is already open: instance \(open.id) (\(open.state))",
                          hints: ["'portal close \(name)' closes it; 'portal open \(name)' continues with it"])
        }
        try checkVolumesBeforeLaunch(spec)
        try Interruption.check()
        let arn = try callerARN()
        let api = options.api ?? (spec.spotFleet != nil ? .spotFleet : .runInstances)
        if api == .spotFleet, spec.spotFleet == nil {
            throw Failure("--api spot-fleet needs spot_fleet.iam_fleet_role in the spec", status: .usage)
        }
        let subnet = try spec.spotInstance.subnetID ?? defaultSubnet(zone: spec.spotInstance.availabilityZone)
        let tags = [(Tag.portalName, name), (Tag.createdBy, arn), (Tag.name, "portal-\(name)")]
        // One token for this open: a retried call after a lost answer is the
        // same request to EC2, not a second instance.
        let token = "portal-\(name.prefix(24))-\(UUID().uuidString.prefix(18))"
        let started = Date()
        progress("requesting a \(spec.spotInstance.instanceType) Spot Instance in \(spec.spotInstance.availabilityZone) (\(api.rawValue))")

        var requestID: String?
        var fleetID: String?
        var instanceID: String?
        do {
            switch api {
            case .runInstances:
                var params = launchParameters(spec, subnet: subnet, prefix: "")
                params += [("MinCount", "1"), ("MaxCount", "1"), ("ClientToken", token),
                           ("InstanceMarketOptions.MarketType", "spot"),
                           ("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time"),
                           ("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate"),
                           // A shutdown from inside (deadline, idle stop) ends the instance, not just stops it.
                           ("InstanceInitiatedShutdownBehavior", "terminate")]
                params += Tag.specification(1, resourceType: "instance", tags)
                params += Tag.specification(2, resourceType: "spot-instances-request", tags)
                let answer = try launchCall("RunInstances", params)
                let launched = answer["instancesSet"]?[0].map(Instance.init(ec2:))
                instanceID = launched?.id
                requestID = launched?.spotRequestID
            case .spotRequest:
                var params = launchParameters(spec, subnet: subnet, prefix: "LaunchSpecification.")
                params += [("InstanceCount", "1"), ("Type", "one-time"), ("ClientToken", token),
                           ("InstanceInterruptionBehavior", "terminate")]
                params += Tag.specification(1, resourceType: "spot-instances-request", tags)
                let answer = try launchCall("RequestSpotInstances", params)
                requestID = answer["spotInstanceRequestSet"]?[0]?["spotInstanceRequestId"]?.stringValue
                instanceID = try waitForSpotRequest(requestID ?? "", started: started, options: options)
            case .spotFleet:
                var params = [("SpotFleetRequestConfig.IamFleetRole", spec.spotFleet!.iamFleetRole),
                              ("SpotFleetRequestConfig.TargetCapacity", "1"),
                              ("SpotFleetRequestConfig.Type", "request"),
                              ("SpotFleetRequestConfig.AllocationStrategy", "lowestPrice"),
                              ("SpotFleetRequestConfig.ClientToken", token),
                              ("SpotFleetRequestConfig.InstanceInterruptionBehavior", "terminate")]
                params += launchParameters(spec, subnet: subnet, prefix: "SpotFleetRequestConfig.LaunchSpecifications.1.",
                                           groupStyle: .fleet)
                params += Tag.specification(1, resourceType: "spot-fleet-request", tags)
                    .map { ("SpotFleetRequestConfig.\($0.0)", $0.1) }
                let answer = try launchCall("RequestSpotFleet", params)
                fleetID = answer["spotFleetRequestId"]?.stringValue
                instanceID = try waitForFleet(fleetID ?? "", started: started, options: options)
            }
            guard let id = instanceID, !id.isEmpty else { throw Failure("EC2 answered without an instance id") }
            if api != .runInstances {
                // Requests and fleets do not pass their tags on; tag the instance.
                var pairs = [("ResourceId.1", id)]
                for (i, tag) in tags.enumerated() {
                    pairs += [("Tag.\(i + 1).Key", tag.0), ("Tag.\(i + 1).Value", tag.1)]
                }
                _ = try ec2("CreateTags", pairs)
            }
            var instance = try waitUntilRunning(id, started: started, options: options)
            if instance.spotRequestID == nil { instance.spotRequestID = requestID }
            if instance.spotFleetRequestID == nil { instance.spotFleetRequestID = fleetID }
            progress("instance \(instance.id) is running (\(humanDuration(Date().timeIntervalSince(started))))")
            return instance
        } catch {
            if instanceID == nil {
                // The answer may have been lost after EC2 acted: the portal was
                // not open before, so a live instance with its tags now is ours.
                instanceID = (try? openInstances(portal: name))?.first?.id
            }
            if requestID != nil || fleetID != nil || instanceID != nil {
                let why = Interruption.requested ? "interrupted" : "the launch did not complete"
                progress("\(why): cancelling the request and terminating what it started")
                try? cleanUp(instanceID: instanceID, requestID: requestID, fleetID: fleetID)
            }
            throw error
        }
    }

    enum GroupStyle { case plain, fleet }

    /// The instance's description, under a prefix (`LaunchSpecification.`).
    func launchParameters(_ spec: PortalSpec, subnet: String?, prefix: String,
                          groupStyle: GroupStyle = .plain) -> [(String, String)]
    {
        let si = spec.spotInstance
        var params = [(prefix + "ImageId", si.imageID), (prefix + "InstanceType", si.instanceType),
                      (prefix + "KeyName", si.keyPairName)]
        switch groupStyle {
        case .plain: params.append((prefix + "SecurityGroupId.1", si.securityGroupID))
        case .fleet: params.append((prefix + "SecurityGroups.1.GroupId", si.securityGroupID))
        }
        if let subnet {
            params.append((prefix + "SubnetId", subnet))
        } else {
            params.append((prefix + "Placement.AvailabilityZone", si.availabilityZone))
        }
        if si.ebsOptimized { params.append((prefix + "EbsOptimized", "true")) }
        return params
    }

    /// The zone's default subnet, so that the instance lands in the spec's
    /// zone; nil when the account has none there (EC2 picks).
    func defaultSubnet(zone: String) throws -> String? {
        let answer = try ec2("DescribeSubnets", [("Filter.1.Name", "availability-zone"), ("Filter.1.Value.1", zone),
                                                 ("Filter.2.Name", "default-for-az"), ("Filter.2.Value.1", "true")])
        return answer["subnetSet"]?[0]?["subnetId"]?.stringValue
    }

    /// A launch call whose errors say what happened and what to do.
    func launchCall(_ action: String, _ params: [(String, String)]) throws -> JSON {
        do {
            return try ec2(action, params)
        } catch var error as AWSError {
            let advice: String? = switch error.code {
            case "InsufficientInstanceCapacity", "InsufficientCapacity":
                "AWS has no spare capacity for this type in this zone now: try again later, another zone, or another type"
            case "MaxSpotInstanceCountExceeded", "VcpuLimitExceeded", "InstanceLimitExceeded":
                "your account's spot limit is reached: close another portal, or ask AWS for a higher limit (Service Quotas)"
            case "SpotMaxPriceTooLow":
                "the spot price is above your maximum price now: try later or another zone"
            case "Unsupported":
                "this instance type is not offered in this zone: pick another zone or type"
            case let code where code.hasPrefix("InvalidParameter") || code.hasPrefix("InvalidAMIID")
                || code.hasPrefix("InvalidKeyPair") || code.hasPrefix("InvalidGroup") || code.hasPrefix("InvalidSubnet"):
                "check the spec's spot_instance fields"
            default: nil
            }
            if let advice { error.message += "; \(advice)" }
            throw error
        }
    }

    /// Adaptive polling: a quarter of a second at first, half as long again
    /// each time, at most `longestPoll`. Throws on Ctrl-C (130) and timeout (75).
    func poll<T>(started: Date, options: LaunchOptions, what: String, _ check: () throws -> T?) throws -> T {
        var pause = options.firstPoll
        while true {
            try Interruption.check()
            if let value = try check() { return value }
            if Date().timeIntervalSince(started) > options.timeout {
                throw Failure("timed out after \(humanDuration(options.timeout)) waiting for \(what)", status: .temporary,
                              hints: ["--timeout SECONDS waits longer"])
            }
            Interruption.sleep(pause)
            pause = min(pause * 1.5, options.longestPoll)
        }
    }

    func waitForSpotRequest(_ id: String, started: Date, options: LaunchOptions) throws -> String {
        var lastStatus = ""
        return try poll(started: started, options: options, what: "spot request \(id)") {
            let answer = try ec2("DescribeSpotInstanceRequests", [("SpotInstanceRequestId.1", id)])
            let request = answer["spotInstanceRequestSet"]?[0]
            let code = request?["status"]?["code"]?.stringValue ?? request?["state"]?.stringValue ?? "unknown"
            if code != lastStatus {
                lastStatus = code
                progress("spot request \(id): \(spotStatusWords[code] ?? code) (\(humanDuration(Date().timeIntervalSince(started))))")
            }
            if let state = request?["state"]?.stringValue, ["cancelled", "failed", "closed"].contains(state),
                request?["instanceId"]?.stringValue == nil
            {
                throw Failure("spot request \(id) is \(state): \(spotStatusWords[code] ?? code)", status: .temporary)
            }
            return request?["instanceId"]?.stringValue
        }
    }

    func waitForFleet(_ id: String, started: Date, options: LaunchOptions) throws -> String {
        try poll(started: started, options: options, what: "spot fleet \(id)") {
            let answer = try ec2("DescribeSpotFleetInstances", [("SpotFleetRequestId", id)])
            return answer["activeInstanceSet"]?[0]?["instanceId"]?.stringValue
        }
    }

    func waitUntilRunning(_ id: String, started: Date, options: LaunchOptions) throws -> Instance {
        var lastState = ""
        return try poll(started: started, options: options, what: "instance \(id) to run") {
            guard let instance = try describeInstance(id) else { return nil }
            if instance.state != lastState {
                lastState = instance.state
                progress("instance \(id): \(instance.state) (\(humanDuration(Date().timeIntervalSince(started))))")
            }
            switch instance.state {
            case "running": return instance
            case "shutting-down", "terminated":
                throw Failure("instance \(id) was \(instance.state) before it ran (spot capacity taken back?)",
                              status: .temporary)
            default: return nil
            }
        }
    }

    /// Cancels the request or fleet and terminates the instance, then waits
    /// until AWS says it is terminated. Used on failure and by close.
    func cleanUp(instanceID: String?, requestID: String?, fleetID: String?, timeout: Double = 300) throws {
        if let requestID {
            _ = try ec2("CancelSpotInstanceRequests", [("SpotInstanceRequestId.1", requestID)])
        }
        if let fleetID {
            _ = try ec2("CancelSpotFleetRequests", [("SpotFleetRequestId.1", fleetID), ("TerminateInstances", "true")])
        }
        guard let instanceID else { return }
        _ = try ec2("TerminateInstances", [("InstanceId.1", instanceID)])
        var options = LaunchOptions()
        options.timeout = timeout
        let started = Date()
        var pause = options.firstPoll
        // Not interruptible: this wait is the cleanup itself.
        while Date().timeIntervalSince(started) < timeout {
            let state = try describeInstance(instanceID)?.state ?? "terminated"
            if state == "terminated" { return }
            Thread.sleep(forTimeInterval: pause)
            pause = min(pause * 1.5, options.longestPoll)
        }
        throw Failure("instance \(instanceID) was not terminated within \(humanDuration(timeout))", status: .temporary,
                      hints: ["check it with 'portal-ec2 DescribeInstances' and 'portal close' again"])
    }
}
