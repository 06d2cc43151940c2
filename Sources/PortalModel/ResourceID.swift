/// An EBS volume id as the document carries it (`vol-0123456789abcdef0`):
/// `vol-` and 1 to 17 lowercase hex digits. Checked here only, wherever an id
/// from a document is about to name something on the instance (a device
/// link, a lock file) or in known_hosts. (`portal volume`'s arguments are
/// checked as AWS issues them, 8 or 17 digits: `VolumeInput.volumeID`.)
public enum VolumeID {
    public static func isValid(_ id: String) -> Bool { ResourceID.isValid(id, prefix: "vol-") }
}

/// An EC2 instance id (`i-0123456789abcdef0`): `i-` and 1 to 17 lowercase
/// hex digits. Checked here only: it names the instance's host key in
/// known_hosts and goes to ssh as its HostKeyAlias.
public enum InstanceID {
    public static func isValid(_ id: String) -> Bool { ResourceID.isValid(id, prefix: "i-") }
}

enum ResourceID {
    static func isValid(_ id: String, prefix: String) -> Bool {
        let hex = id.utf8.dropFirst(prefix.utf8.count)
        return id.hasPrefix(prefix) && (1...17).contains(hex.count)
            && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
