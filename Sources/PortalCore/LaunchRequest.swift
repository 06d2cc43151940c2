import PortalAWS
import PortalModel

/// The launch call of one launch path, as it goes on the wire: the action and
/// its query parameters, named as EC2's service model names them (botocore's
/// `ec2/2016-11-15/service-2.json`: each member's `locationName` or
/// `queryName`, lists flattened as `Name.N`). Built without AWS, so that a
/// test can hold every path to its exact parameters.
public struct LaunchRequest: Sendable {
    public var action: String
    public var parameters: [(String, String)]

    /// - Parameters:
    ///   - subnet: the zone's default subnet; nil puts the zone in `Placement`.
    ///   - token: the idempotency token of this open.
    ///   - tags: the tags of the instance, the spot request and the fleet.
    public init(api: LaunchAPI, spec: PortalSpec, subnet: String?, token: String, tags: [(String, String)]) {
        switch api {
        case .runInstances:
            action = "RunInstances"
            parameters = LaunchRequest.instance(spec, subnet: subnet, prefix: "", groups: "SecurityGroupId.1")
            parameters += [("MinCount", "1"), ("MaxCount", "1"), ("ClientToken", token),
                           ("InstanceMarketOptions.MarketType", "spot"),
                           ("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time"),
                           ("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate"),
                           // A shutdown from inside (deadline, idle stop) ends the instance, not just stops it.
                           ("InstanceInitiatedShutdownBehavior", "terminate")]
            parameters += Tag.specification(1, resourceType: "instance", tags)
            parameters += Tag.specification(2, resourceType: "spot-instances-request", tags)
        case .spotRequest:
            action = "RequestSpotInstances"
            parameters = LaunchRequest.instance(spec, subnet: subnet, prefix: "LaunchSpecification.",
                                                groups: "SecurityGroupId.1")
            parameters += [("InstanceCount", "1"), ("Type", "one-time"), ("ClientToken", token),
                           ("InstanceInterruptionBehavior", "terminate")]
            parameters += Tag.specification(1, resourceType: "spot-instances-request", tags)
        case .spotFleet:
            action = "RequestSpotFleet"
            let config = "SpotFleetRequestConfig."
            parameters = [(config + "IamFleetRole", spec.spotFleet?.iamFleetRole ?? ""),
                          (config + "TargetCapacity", "1"),
                          (config + "Type", "request"),
                          (config + "AllocationStrategy", "lowestPrice"),
                          (config + "ClientToken", token),
                          (config + "InstanceInterruptionBehavior", "terminate")]
            // A fleet's launch specification (SpotFleetLaunchSpecification)
            // names its security groups `GroupSet.N.GroupId`, not
            // `SecurityGroupId.N` as RunInstances does.
            let launch = config + "LaunchSpecifications.1."
            parameters += LaunchRequest.instance(spec, subnet: subnet, prefix: launch, groups: "GroupSet.1.GroupId")
            // The fleet's instance is tagged from its first moment, as RunInstances' is.
            parameters += Tag.specification(1, resourceType: "instance", tags, name: "TagSpecificationSet")
                .map { (launch + $0.0, $0.1) }
            parameters += Tag.specification(1, resourceType: "spot-fleet-request", tags).map { (config + $0.0, $0.1) }
        }
    }

    /// The instance's description under a prefix (`LaunchSpecification.`),
    /// its security group under `groups`.
    static func instance(_ spec: PortalSpec, subnet: String?, prefix: String, groups: String) -> [(String, String)] {
        let si = spec.spotInstance
        var params = [(prefix + "ImageId", si.imageID), (prefix + "InstanceType", si.instanceType),
                      (prefix + "KeyName", si.keyPairName), (prefix + groups, si.securityGroupID)]
        if let subnet {
            params.append((prefix + "SubnetId", subnet))
        } else {
            params.append((prefix + "Placement.AvailabilityZone", si.availabilityZone))
        }
        if si.ebsOptimized { params.append((prefix + "EbsOptimized", "true")) }
        return params
    }
}
