import PortalBase

/// The parameters of one Query API call (EC2, STS), in order, as the API names
/// them: `Filter.1.Name`, `Filter.1.Value.1`, …
public struct QueryParameters: Equatable, Sendable {
    public var pairs: [(String, String)] = []

    public init(_ pairs: [(String, String)] = []) { self.pairs = pairs }

    public subscript(name: String) -> String? {
        get { pairs.first(where: { $0.0 == name })?.1 }
        set {
            pairs.removeAll { $0.0 == name }
            if let newValue { pairs.append((name, newValue)) }
        }
    }

    /// The form-encoded body: every byte but RFC 3986's unreserved encoded.
    public var formEncoded: String {
        pairs.map { SigV4.percentEncode($0.0) + "=" + SigV4.percentEncode($0.1) }.joined(separator: "&")
    }

    public static func == (lhs: QueryParameters, rhs: QueryParameters) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0 == $1 }
    }

    /// How arrays are flattened: EC2's own protocol numbers them under the
    /// member's singular name (`Filters` → `Filter.1`); the Query protocol of
    /// STS numbers them under `.member.` (`Tags.member.1`).
    public enum Style: Sendable { case ec2, query }

    /// Arrays whose EC2 member name is the singular of the structured name.
    /// Other arrays keep their name (`SpotFleetRequestConfig.LaunchSpecifications.1`),
    /// as EC2's model names them.
    public static let ec2SingularNames: [String: String] = [
        "Filters": "Filter", "Values": "Value", "VolumeIds": "VolumeId", "InstanceIds": "InstanceId",
        "Tags": "Tag", "TagSpecifications": "TagSpecification", "Resources": "ResourceId",
        "ResourceIds": "ResourceId", "SecurityGroupIds": "SecurityGroupId", "SecurityGroups": "SecurityGroup",
        "SpotInstanceRequestIds": "SpotInstanceRequestId", "SpotFleetRequestIds": "SpotFleetRequestId",
        "ZoneNames": "ZoneName", "ZoneIds": "ZoneId", "ImageIds": "ImageId", "Owners": "Owner",
        "GroupIds": "GroupId", "GroupNames": "GroupName", "KeyNames": "KeyName", "SubnetIds": "SubnetId",
        "BlockDeviceMappings": "BlockDeviceMapping", "NetworkInterfaces": "NetworkInterface",
        "AllocationIds": "AllocationId", "PublicIps": "PublicIp", "VpcIds": "VpcId",
        "InstanceTypes": "InstanceType", "SnapshotIds": "SnapshotId", "RegionNames": "RegionName",
        "KeyPairIds": "KeyPairId", "ProductDescriptions": "ProductDescription", "OwnerIds": "Owner",
    ]

    /// Flattens a JSON object of parameters. Flat keys pass through as they
    /// are; objects nest with `.`; arrays number from 1; booleans are
    /// `true`/`false`. Null is left out.
    public static func flatten(_ object: JSONObject, style: Style = .ec2) throws -> QueryParameters {
        var result = QueryParameters()
        func add(_ prefix: String, _ value: JSON) throws {
            switch value {
            case .null: return
            case .bool(let b): result.pairs.append((prefix, b ? "true" : "false"))
            case .int(let i): result.pairs.append((prefix, String(i)))
            case .double(let d) where !d.isFinite:
                throw Failure("<stdin>: \(abbreviated(prefix)): the number cannot be represented", status: .dataError)
            case .double(let d): result.pairs.append((prefix, JSON.double(d).serialized()))
            case .bigInt(let text): result.pairs.append((prefix, text))
            case .string(let s): result.pairs.append((prefix, s))
            case .object(let nested):
                for (key, inner) in nested { try add("\(prefix).\(key)", inner) }
            case .array(let items):
                let name: String
                let last = prefix.split(separator: ".").last.map(String.init) ?? prefix
                switch style {
                case .ec2:
                    let singular = ec2SingularNames[last] ?? last
                    name = String(prefix.dropLast(last.count)) + singular
                case .query: name = prefix + ".member"
                }
                for (i, item) in items.enumerated() { try add("\(name).\(i + 1)", item) }
            }
        }
        for (key, value) in object {
            if key.isEmpty { throw Failure("<stdin>: a parameter has an empty name", status: .dataError) }
            try add(key, value)
        }
        return result
    }
}
