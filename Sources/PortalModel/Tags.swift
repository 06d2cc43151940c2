import PortalBase

/// The tags that hold Portal Gun's state in AWS, so that any machine with the
/// same credentials sees the same portals (the README says so to users).
public enum Tag {
    /// On instances, spot requests and fleets: the portal's name. On a
    /// volume: the portal it is attached to, while it is.
    public static let portalName = "portal-name"
    /// On everything Portal Gun creates: the creator's ARN.
    public static let createdBy = "created-by"
    /// On a volume while it is attached: where the spec mounts it.
    public static let mountPoint = "mount-point"
    public static let name = "Name"
    /// On every volume created: Portal Gun 0.x's mark, so that either tool
    /// lists and owns the other's volumes alike.
    public static let dimension = "dimension"
    public static let dimensionValue = "C-137"

    /// `tagSet` of an EC2 answer as a dictionary.
    public static func dictionary(_ tagSet: JSON?) -> [String: String] {
        var tags: [String: String] = [:]
        for tag in tagSet?.arrayValue ?? [] {
            if let key = tag["key"]?.stringValue { tags[key] = tag["value"]?.stringValue ?? "" }
        }
        return tags
    }

    /// `TagSpecification.N` parameters for resources created with these tags
    /// (`TagSpecificationSet.N` in a fleet's launch specification).
    public static func specification(_ index: Int, resourceType: String, _ tags: [(String, String)],
                                     name: String = "TagSpecification") -> [(String, String)]
    {
        var pairs = [("\(name).\(index).ResourceType", resourceType)]
        for (i, tag) in tags.enumerated() {
            pairs.append(("\(name).\(index).Tag.\(i + 1).Key", tag.0))
            pairs.append(("\(name).\(index).Tag.\(i + 1).Value", tag.1))
        }
        return pairs
    }
}
