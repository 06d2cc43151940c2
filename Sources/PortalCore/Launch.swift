import PortalAWS
import PortalBase
import PortalModel

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
    /// The first and the longest pause between two polls: a state change is
    /// seen within a fifth of a second (a tenth on average). One wait makes
    /// five Describe calls a second at most, half of what EC2 refills: it
    /// throttles each action on its own token bucket per account and region,
    /// and DescribeInstances and DescribeVolumes asked by id (neither filtered
    /// nor paginated) draw on the smaller one, 50 tokens refilled at 10 a
    /// second ("Request throttling for the Amazon EC2 API",
    /// https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).
    public var firstPoll: Double = 0.2
    public var longestPoll: Double = 0.2
    /// Seconds a new instance id may be unknown to EC2's Describe calls
    /// (`InvalidInstanceID.NotFound`) before that is taken as final: the EC2
    /// API is eventually consistent ("Eventual consistency in the Amazon EC2
    /// API", https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
    public var unknownFor: Double = 60
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
    ///
    /// `checks`: `launchChecks(spec)` started earlier (beside the caller's
    /// own look-up for an open portal); else they start here, beside this
    /// one's.
    public func launch(_ document: PortalDocument, options: LaunchOptions = LaunchOptions(),
                       knownClosed: Bool = false, checks: Background<String?>? = nil) throws -> Instance
    {
        let name = document.name
        let spec = document.spec
        let api = options.api ?? (spec.spotFleet != nil ? .spotFleet : .runInstances)
        if api == .spotFleet, spec.spotFleet == nil {
            throw Failure("--api spot-fleet needs spot_fleet.iam_fleet_role in the spec", status: .usage)
        }
        let checks = checks ?? launchChecks(spec)
        if !knownClosed, let open = try findInstance(portal: name) {
            throw Failure("portal '\(name)' is already open: instance \(open.id) (\(open.state))",
                          hints: ["'portal close \(name)' closes it; 'portal open \(name)' continues with it"])
        }
        let subnet = try checks.value()
        try Interruption.check()
        let arn = try callerARN()
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
            let request = LaunchRequest(api: api, spec: spec, subnet: subnet, token: token, tags: tags)
            let answer = try launchCall(request.action, request.parameters)
            switch api {
            case .runInstances:
                let launched = answer["instancesSet"]?[0].flatMap(Instance.init(ec2:))
                instanceID = launched?.id.rawValue
                requestID = launched?.spotRequestID
            case .spotRequest:
                requestID = answer["spotInstanceRequestSet"]?[0]?["spotInstanceRequestId"]?.stringValue
                instanceID = try waitForSpotRequest(requestID ?? "", started: started, options: options)
            case .spotFleet:
                fleetID = answer["spotFleetRequestId"]?.stringValue
                instanceID = try waitForFleet(fleetID ?? "", started: started, options: options)
            }
            guard let id = instanceID, !id.isEmpty else { throw Failure("EC2 answered without an instance id") }
            if api == .spotRequest {
                // A spot request does not pass its tags on; tag the instance.
                var pairs = [("ResourceId.1", id)]
                for (i, tag) in tags.enumerated() {
                    pairs += [("Tag.\(i + 1).Key", tag.0), ("Tag.\(i + 1).Value", tag.1)]
                }
                _ = try eventually(id, options: options) { try ec2("CreateTags", pairs) }
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
                instanceID = (try? openInstances(portal: name))?.first?.id.rawValue
            }
            if requestID != nil || fleetID != nil || instanceID != nil {
                let why = Interruption.requested ? "interrupted" : "the launch did not complete"
                progress("\(why): cancelling the request and terminating what it started")
                let left = [instanceID.map { "instance \($0)" }, requestID.map { "spot request \($0)" },
                            fleetID.map { "spot fleet \($0)" }].compactMap { $0 }.joined(separator: ", ")
                Interruption.cleaningUp(stillRunning: "\(left) may still be running; 'portal close \(name)' ends it") {
                    _ = try? cleanUp(instanceID: instanceID, requestID: requestID, fleetID: fleetID)
                }
            }
            throw error
        }
    }

    /// What is checked before a launch spends anything, started at once: the
    /// spec's volumes (each available, in the spec's zone) and, at the same
    /// time, the zone's default subnet. The value is the subnet to launch
    /// into (nil: EC2 picks); it throws what the volume check finds.
    public func launchChecks(_ spec: PortalSpec) -> Background<String?> {
        let zone = spec.spotInstance.availabilityZone, given = spec.spotInstance.subnetID
        return Background {
            let lookup = given == nil ? Background { try self.defaultSubnet(zone: zone) } : nil
            try self.checkVolumesBeforeLaunch(spec)
            return try lookup?.value() ?? given
        }
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

    /// Polling: `firstPoll` at first, half as long again each time, at most
    /// `longestPoll`. Throws on Ctrl-C (130) and timeout (75).
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

    func waitForFleet(_ id: String, started: Date, options given: LaunchOptions) throws -> String {
        // DescribeSpotFleetInstances has a bucket of its own refilled at only
        // 5 tokens a second (same page as LaunchOptions.firstPoll): half that.
        var options = given
        options.firstPoll = max(options.firstPoll, 0.4)
        options.longestPoll = max(options.longestPoll, 0.4)
        return try poll(started: started, options: options, what: "spot fleet \(id)") {
            let answer = try eventually(id, options: options) {
                try ec2("DescribeSpotFleetInstances", [("SpotFleetRequestId", id)])
            }
            return answer["activeInstanceSet"]?[0]?["instanceId"]?.stringValue
        }
    }

    /// Runs `body` again while EC2 says a resource just created does not
    /// exist (`….NotFound`), for `options.unknownFor` seconds: eventual
    /// consistency, not an error yet.
    func eventually<T>(_ id: String, options: LaunchOptions = LaunchOptions(), _ body: () throws -> T) throws -> T {
        let started = Date()
        var pause = options.firstPoll
        while true {
            do {
                return try body()
            } catch let error as AWSError where error.code.hasSuffix(".NotFound")
                && Date().timeIntervalSince(started) < options.unknownFor
            {
                try Interruption.check()
                Interruption.sleep(pause)
                pause = min(pause * 1.5, options.longestPoll)
            }
        }
    }

    /// Waits until the instance runs: pending, or not known yet to
    /// DescribeInstances (eventual consistency), is waited for.
    public func waitUntilRunning(_ id: String, started: Date, options: LaunchOptions) throws -> Instance {
        var lastState = ""
        return try poll(started: started, options: options, what: "instance \(id) to run") {
            guard let instance = try eventually(id, options: options, { try describeInstance(id) }) else { return nil }
            // "running" is said once, by the launch, with the time it took.
            if instance.state != lastState && instance.state != "running" {
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
        var options = LaunchOptions()
        options.timeout = timeout
        if let instanceID {
            _ = try eventually(instanceID, options: options) { try ec2("TerminateInstances", [("InstanceId.1", instanceID)]) }
        }
        // After the instance (a fleet of type `request` launches no
        // replacement; moto fails to terminate an instance whose fleet is
        // gone); the fleet terminates its instances only when we know of none.
        if let fleetID {
            _ = try ec2("CancelSpotFleetRequests", [("SpotFleetRequestId.1", fleetID),
                                                    ("TerminateInstances", instanceID == nil ? "true" : "false")])
        }
        guard let instanceID else { return }
        let started = Date()
        var pause = options.firstPoll
        // Not cut short by the first Ctrl-C: this wait is the cleanup itself.
        while Date().timeIntervalSince(started) < timeout {
            let state = try describeInstance(instanceID)?.state ?? "terminated"
            if state == "terminated" { return }
            sleep(seconds: pause)
            pause = min(pause * 1.5, options.longestPoll)
        }
        throw Failure("instance \(instanceID) was not terminated within \(humanDuration(timeout))", status: .temporary,
                      hints: ["check it with 'portal-ec2 DescribeInstances' and 'portal close' again"])
    }
}
