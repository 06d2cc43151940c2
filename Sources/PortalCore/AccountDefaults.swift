import PortalAWS
import PortalBase
import PortalModel

/// What `portal init --from-account` looks up: a zone of the region, its
/// default subnet, a security group of that VPC that lets SSH in, and the
/// newest Ubuntu Deep Learning AMI Amazon publishes. Parameter names are
/// botocore's EC2 model's (`Owner.N`, `Filter.N.Name`, `Filter.N.Value.M`).
extension PortalCloud {
    /// The name Amazon gives its Ubuntu Deep Learning AMIs.
    public static let deepLearningAMIName = "Deep Learning*AMI*Ubuntu*"

    /// Fills what the account knows; notes on the way what it could not find.
    public func accountDefaults(zone wanted: String? = nil) throws -> (values: PortalSpec.DraftValues, notes: [String]) {
        var values = PortalSpec.DraftValues()
        var notes: [String] = []
        let zones = try ec2("DescribeAvailabilityZones", [("Filter.1.Name", "state"), ("Filter.1.Value.1", "available")])
        let names = (zones["availabilityZoneInfo"]?.arrayValue ?? []).compactMap { $0["zoneName"]?.stringValue }.sorted()
        guard let zone = wanted ?? names.first else {
            throw Failure("the region has no available zone", hints: ["choose another with --region"])
        }
        values.availabilityZone = zone

        let subnets = try ec2("DescribeSubnets", [("Filter.1.Name", "availability-zone"), ("Filter.1.Value.1", zone),
                                                  ("Filter.2.Name", "default-for-az"), ("Filter.2.Value.1", "true")])
        let subnet = subnets["subnetSet"]?[0]
        values.subnetID = subnet?["subnetId"]?.stringValue
        if values.subnetID == nil { notes.append("no default subnet in \(zone): subnet_id left out") }

        var groupFilters = [(String, String)]()
        if let vpc = subnet?["vpcId"]?.stringValue { groupFilters += [("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", vpc)] }
        let groups = (try ec2("DescribeSecurityGroups", groupFilters)["securityGroupInfo"]?.arrayValue ?? [])
        let ssh = groups.first { group in
            (group["ipPermissions"]?.arrayValue ?? []).contains { rule in
                let from = rule["fromPort"]?.intValue, to = rule["toPort"]?.intValue
                return rule["ipProtocol"]?.stringValue == "-1" || (from.map { $0 <= 22 } ?? false) && (to.map { $0 >= 22 } ?? false)
            }
        }
        values.securityGroupID = (ssh ?? groups.first { $0["groupName"]?.stringValue == "default" })?["groupId"]?.stringValue
        if ssh == nil {
            notes.append(values.securityGroupID == nil
                ? "no security group found: security_group_id still to be filled"
                : "no security group lets SSH (port 22) in: the VPC's default group is named; open port 22 in it")
        }

        let images = try ec2("DescribeImages", [
            ("Owner.1", "amazon"),
            ("Filter.1.Name", "name"), ("Filter.1.Value.1", PortalCloud.deepLearningAMIName),
            ("Filter.2.Name", "state"), ("Filter.2.Value.1", "available"),
            ("Filter.3.Name", "architecture"), ("Filter.3.Value.1", "x86_64"),
        ])
        let newest = (images["imagesSet"]?.arrayValue ?? [])
            .max { ($0["creationDate"]?.stringValue ?? "") < ($1["creationDate"]?.stringValue ?? "") }
        values.imageID = newest?["imageId"]?.stringValue
        if let name = newest?["name"]?.stringValue {
            notes.append("image: \(name)")
        } else {
            notes.append("no Ubuntu Deep Learning AMI of Amazon's in the region: image_id still to be filled")
        }
        return (values, notes)
    }
}
