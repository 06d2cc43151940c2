import PortalBase

/// EBS volume types, with the sizes each allows.
public enum VolumeType: String, CaseIterable, Sendable {
    case gp2, gp3, io1, io2, st1, sc1, standard

    public static let `default` = VolumeType.gp3

    /// The sizes AWS allows for the type, in GiB (io2 Block Express can go
    /// further; Portal Gun stays within what every region offers).
    public var sizes: ClosedRange<Int> {
        switch self {
        case .gp2, .gp3: return 1...16384
        case .io1, .io2: return 4...16384
        case .st1, .sc1: return 125...16384
        case .standard: return 1...1024
        }
    }

    /// The size a new volume gets when none is given: 50 GiB, or the type's
    /// least when that is more (st1, sc1: 125 GiB).
    public var defaultSizeGiB: Int { max(VolumeInput.defaultSizeGiB, sizes.lowerBound) }

    /// Provisioned IOPS: required for io1 and io2, allowed for gp3.
    public var iopsRequired: Bool { self == .io1 || self == .io2 }
    public var iopsAllowed: Bool { iopsRequired || self == .gp3 }
}

/// The checks on what a person types, made before any AWS call. Each error is
/// a usage error (exit 64) in the house style.
public enum VolumeInput {
    public static let sizes = 1...16384
    public static let defaultSizeGiB = 50
    /// Tags Portal Gun writes itself; `-t` may not set them.
    public static let reservedTagKeys: Set<String> = [Tag.createdBy, Tag.portalName, Tag.mountPoint, Tag.dimension]

    /// A size in GiB: a whole number from 1 to 16384 (within the type's own
    /// range when the type is known).
    public static func size(_ text: String, type: VolumeType? = nil) throws -> Int {
        let trimmed = text.trimming(\.isBlank)
        let digits = trimmed.hasSuffix("GiB") ? String(trimmed.dropLast(3)).trimming(\.isBlank) : trimmed
        guard let size = Int(digits), sizes.contains(size), digits.allSatisfy(\.isASCII) else {
            throw Failure("invalid size '\(text)': expected a whole number of GiB from 1 to 16384", status: .usage)
        }
        if let type { try check(size: size, type: type) }
        return size
    }

    public static func check(size: Int, type: VolumeType) throws {
        guard type.sizes.contains(size) else {
            throw Failure(
                "invalid size '\(size)' for a volume of type \(type.rawValue): expected \(type.sizes.lowerBound) "
                    + "to \(type.sizes.upperBound) GiB",
                status: .usage)
        }
    }

    /// A zone of the region: its name starts with the region's
    /// (`us-east-1a`, `us-east-1-bos-1a` in us-east-1), checked before
    /// CreateVolume so that nothing is made elsewhere, or refused late.
    public static func check(zone: String, region: String) throws {
        guard zone.hasPrefix(region), zone.count > region.count else {
            throw Failure("availability zone '\(zone)' is not in the region \(region)", status: .usage,
                          hints: ["give a zone of \(region), such as -z \(region)a, or another region with --region"])
        }
    }

    public static func type(_ text: String) throws -> VolumeType {
        guard let type = VolumeType(rawValue: text) else {
            let names = VolumeType.allCases.map(\.rawValue).joined(separator: ", ")
            throw Failure("invalid volume type '\(text)': expected one of \(names)", status: .usage)
        }
        return type
    }

    /// `key:value`: the key is everything before the first colon and may not
    /// be empty; the value is the rest, colons included, and may be empty.
    public static func tag(_ text: String) throws -> (key: String, value: String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw Failure("invalid tag '\(text)': expected key:value", status: .usage)
        }
        let key = String(text[..<colon])
        let value = String(text[text.index(after: colon)...])
        guard !key.trimming(\.isBlank).isEmpty else {
            throw Failure("invalid tag '\(text)': the key is empty", status: .usage)
        }
        guard key.count <= 128 else {
            throw Failure("invalid tag '\(text)': the key is longer than 128 characters", status: .usage)
        }
        guard value.count <= 256 else {
            throw Failure("invalid tag '\(text)': the value is longer than 256 characters", status: .usage)
        }
        guard !key.lowercased().hasPrefix("aws:") else {
            throw Failure("invalid tag '\(text)': keys starting with 'aws:' are AWS's own", status: .usage)
        }
        guard !reservedTagKeys.contains(key) else {
            throw Failure("invalid tag '\(text)': Portal Gun writes '\(key)' itself", status: .usage)
        }
        return (key, value)
    }

    /// `-t` tags with `-n`: `Name` may come from either, but not from both
    /// with different values; a key given twice is an error. Returns the
    /// name and the other tags, in the order given.
    public static func tags(_ texts: [String], name: String?) throws -> (name: String?, tags: [(String, String)]) {
        var name = name
        var tags: [(String, String)] = []
        for text in texts {
            let (key, value) = try tag(text)
            if key == Tag.name {
                if let name, name != value {
                    throw Failure("conflicting names: -n '\(name)' and -t '\(text)'; give one", status: .usage)
                }
                name = value
            } else if let earlier = tags.first(where: { $0.0 == key }) {
                throw Failure("tag '\(key)' given twice: '\(earlier.0):\(earlier.1)' and '\(text)'", status: .usage)
            } else {
                tags.append((key, value))
            }
        }
        return (name, tags)
    }

    /// A volume id as a person types it: a `VolumeID`, of the length AWS
    /// issues (8 or 17 digits; a document's may be shorter).
    public static func volumeID(_ text: String) throws -> VolumeID {
        guard let id = VolumeID(text), text.utf8.count - VolumeID.prefix.utf8.count >= 8 else {
            throw Failure("invalid volume id '\(abbreviated(text))': expected vol- and 8 to 17 hex digits, such as vol-0123456789abcdef0",
                          status: .usage)
        }
        return id
    }

    public static func snapshotID(_ text: String) throws -> String {
        try resourceID(text, prefix: "snap-", what: "snapshot id", example: "snap-0123456789abcdef0")
    }

    static func resourceID(_ text: String, prefix: String, what: String, example: String) throws -> String {
        let hex = text.dropFirst(prefix.count)
        guard text.hasPrefix(prefix), (8...17).contains(hex.count),
            hex.allSatisfy({ $0.isHexDigit && $0.isASCII })
        else {
            throw Failure("invalid \(what) '\(abbreviated(text))': expected \(prefix) and 8 to 17 hex digits, such as \(example)",
                          status: .usage)
        }
        return text
    }

    public static func iops(_ value: Int?, type: VolumeType) throws -> Int? {
        guard let value else {
            if type.iopsRequired {
                throw Failure("missing IOPS: a volume of type \(type.rawValue) needs --iops", status: .usage)
            }
            return nil
        }
        guard type.iopsAllowed else {
            throw Failure("invalid option --iops for a volume of type \(type.rawValue): only gp3, io1 and io2 take it",
                          status: .usage)
        }
        guard (100...256_000).contains(value) else {
            throw Failure("invalid IOPS '\(value)': expected 100 to 256000", status: .usage)
        }
        return value
    }
}
