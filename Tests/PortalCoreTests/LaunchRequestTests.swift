import Testing

@testable import PortalCore
import PortalModel

/// Each launch path's request exactly as it goes on the wire. The names are
/// EC2's service model's (botocore's ec2/2016-11-15/service-2.json: a
/// member's locationName or queryName, lists flattened as Name.N); the twin's
/// strict gateway refuses any other.
@Suite struct LaunchRequestTests {
    static let spec = PortalSpec(
        spotInstance: .init(instanceType: "t3.medium", imageID: "ami-0123456789abcdef0", keyPairName: "portal",
                            identityFile: "/k", securityGroupID: "sg-0123456789abcdef0", availabilityZone: "us-east-1a",
                            ebsOptimized: true),
        spotFleet: .init(iamFleetRole: "arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role"))
    static let tags = [("portal-name", "gpu"), ("created-by", "arn:aws:iam::123456789012:user/me")]

    static func request(_ api: LaunchAPI, subnet: String? = "subnet-0123456789abcdef0") -> LaunchRequest {
        LaunchRequest(api: api, spec: spec, subnet: subnet, token: "portal-gpu-T", tags: tags)
    }

    static func text(_ pairs: [(String, String)]) -> [String] { pairs.map { "\($0.0)=\($0.1)" } }

    @Test("run-instances: RunInstances with spot market options, the instance and its request tagged")
    func runInstances() {
        let request = Self.request(.runInstances)
        #expect(request.action == "RunInstances")
        #expect(Self.text(request.parameters) == [
            "ImageId=ami-0123456789abcdef0", "InstanceType=t3.medium", "KeyName=portal",
            "SecurityGroupId.1=sg-0123456789abcdef0", "SubnetId=subnet-0123456789abcdef0", "EbsOptimized=true",
            "MinCount=1", "MaxCount=1", "ClientToken=portal-gpu-T",
            "InstanceMarketOptions.MarketType=spot",
            "InstanceMarketOptions.SpotOptions.SpotInstanceType=one-time",
            "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior=terminate",
            "InstanceInitiatedShutdownBehavior=terminate",
            "TagSpecification.1.ResourceType=instance",
            "TagSpecification.1.Tag.1.Key=portal-name", "TagSpecification.1.Tag.1.Value=gpu",
            "TagSpecification.1.Tag.2.Key=created-by", "TagSpecification.1.Tag.2.Value=arn:aws:iam::123456789012:user/me",
            "TagSpecification.2.ResourceType=spot-instances-request",
            "TagSpecification.2.Tag.1.Key=portal-name", "TagSpecification.2.Tag.1.Value=gpu",
            "TagSpecification.2.Tag.2.Key=created-by", "TagSpecification.2.Tag.2.Value=arn:aws:iam::123456789012:user/me",
        ])
    }

    @Test("spot-request: RequestSpotInstances with a LaunchSpecification; no subnet puts the zone in Placement")
    func spotRequest() {
        let request = Self.request(.spotRequest, subnet: nil)
        #expect(request.action == "RequestSpotInstances")
        #expect(Self.text(request.parameters) == [
            "LaunchSpecification.ImageId=ami-0123456789abcdef0", "LaunchSpecification.InstanceType=t3.medium",
            "LaunchSpecification.KeyName=portal", "LaunchSpecification.SecurityGroupId.1=sg-0123456789abcdef0",
            "LaunchSpecification.Placement.AvailabilityZone=us-east-1a", "LaunchSpecification.EbsOptimized=true",
            "InstanceCount=1", "Type=one-time", "ClientToken=portal-gpu-T", "InstanceInterruptionBehavior=terminate",
            "TagSpecification.1.ResourceType=spot-instances-request",
            "TagSpecification.1.Tag.1.Key=portal-name", "TagSpecification.1.Tag.1.Value=gpu",
            "TagSpecification.1.Tag.2.Key=created-by", "TagSpecification.1.Tag.2.Value=arn:aws:iam::123456789012:user/me",
        ])
    }

    @Test("spot-fleet: the launch specification's security group is GroupSet.1.GroupId, its instance tagged at launch")
    func spotFleet() {
        let request = Self.request(.spotFleet)
        #expect(request.action == "RequestSpotFleet")
        let c = "SpotFleetRequestConfig."
        let l = c + "LaunchSpecifications.1."
        #expect(Self.text(request.parameters) == [
            c + "IamFleetRole=arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role",
            c + "TargetCapacity=1", c + "Type=request", c + "AllocationStrategy=lowestPrice",
            c + "ClientToken=portal-gpu-T", c + "InstanceInterruptionBehavior=terminate",
            l + "ImageId=ami-0123456789abcdef0", l + "InstanceType=t3.medium", l + "KeyName=portal",
            l + "GroupSet.1.GroupId=sg-0123456789abcdef0", l + "SubnetId=subnet-0123456789abcdef0",
            l + "EbsOptimized=true",
            l + "TagSpecificationSet.1.ResourceType=instance",
            l + "TagSpecificationSet.1.Tag.1.Key=portal-name", l + "TagSpecificationSet.1.Tag.1.Value=gpu",
            l + "TagSpecificationSet.1.Tag.2.Key=created-by",
            l + "TagSpecificationSet.1.Tag.2.Value=arn:aws:iam::123456789012:user/me",
            c + "TagSpecification.1.ResourceType=spot-fleet-request",
            c + "TagSpecification.1.Tag.1.Key=portal-name", c + "TagSpecification.1.Tag.1.Value=gpu",
            c + "TagSpecification.1.Tag.2.Key=created-by", c + "TagSpecification.1.Tag.2.Value=arn:aws:iam::123456789012:user/me",
        ])
        #expect(!request.parameters.contains { $0.0.contains("SecurityGroups") })
    }
}
