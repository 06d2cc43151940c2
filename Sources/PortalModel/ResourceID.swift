import PortalBase

/// An EBS volume id (`vol-0123456789abcdef0`): `vol-` and 1 to 17 lowercase
/// hex digits, checked once, by `init?(_:)`, wherever an id comes in: a
/// document's, a spec's, a person's (`VolumeInput.volumeID`). An id of this
/// type may name a device link or a lock file on the instance.
public struct VolumeID: ResourceID {
    public static let prefix = "vol-"
    public static let expected = "a volume id (vol-0123abcd…)"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// An EC2 instance id (`i-0123456789abcdef0`): `i-` and 1 to 17 lowercase
/// hex digits, checked once, by `init?(_:)`. An id of this type names the
/// instance's host key in known_hosts and goes to ssh as its HostKeyAlias.
public struct InstanceID: ResourceID {
    public static let prefix = "i-"
    public static let expected = "an instance id such as \"i-0123456789abcdef0\""
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// What the two id types share: the one validation, and the plain string
/// they are in documents and AWS calls.
public protocol ResourceID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    static var prefix: String { get }
    /// What a message says was expected: `a volume id (vol-0123abcd…)`.
    static var expected: String { get }
    var rawValue: String { get }
    /// What `init?(_:)` makes once it has checked: nothing else calls it.
    init(unchecked rawValue: String)
}

extension ResourceID {
    /// The id, if `text` is one: the prefix and 1 to 17 lowercase hex digits.
    public init?(_ text: String) {
        let hex = text.utf8.dropFirst(Self.prefix.utf8.count)
        guard text.hasPrefix(Self.prefix), (1...17).contains(hex.count),
              hex.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.init(unchecked: text)
    }

    /// The id a document holds at `path` (`<stdin>: instance.id`), or bad
    /// input (exit 65) that says what was found.
    public static func document(_ text: String, at path: String) throws -> Self {
        guard let id = Self(text) else {
            throw Failure("\(path): expected \(expected), found \(JSON.string(text).shortDescription)", status: .dataError)
        }
        return id
    }

    /// A literal in code (`"vol-0123456789abcdef0"`), checked as any other;
    /// a bad one is a programming error (a trap). `VolumeID("vol-…")` with a
    /// literal is this too, not `init?(_:)`: text from outside is a variable.
    public init(stringLiteral value: String) {
        guard let id = Self(value) else { preconditionFailure("not a \(Self.self): \(value)") }
        self = id
    }

    public var description: String { rawValue }
    /// The id in a document: the plain string.
    public var json: JSON { .string(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
