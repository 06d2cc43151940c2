/// A JSON value that keeps what a plumbing stage must pass through untouched:
/// the order of object keys, and integers exactly as written.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// An integer beyond Int64, kept as written (digits, and a minus sign)
    /// so that a stage passes it through exactly.
    case bigInt(String)
    case string(String)
    case array([JSON])
    case object(JSONObject)
}

/// An object whose keys keep their order of insertion. Setting an existing key
/// replaces its value in place. Lookup and insertion take constant time
/// (a table from key to position); removing a key renumbers those after it.
public struct JSONObject: Equatable, Sendable, Sequence {
    public private(set) var pairs: [(key: String, value: JSON)] = []
    private var positions: [String: Int] = [:]

    public init() {}
    public init(_ pairs: [(String, JSON)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public var keys: [String] { pairs.map(\.key) }
    public var isEmpty: Bool { pairs.isEmpty }
    public var count: Int { pairs.count }

    public subscript(key: String) -> JSON? {
        get { positions[key].map { pairs[$0].value } }
        set {
            if let index = positions[key] {
                if let newValue {
                    pairs[index].value = newValue
                } else {
                    pairs.remove(at: index)
                    positions[key] = nil
                    for later in index..<pairs.count { positions[pairs[later].key] = later }
                }
            } else if let newValue {
                positions[key] = pairs.count
                pairs.append((key, newValue))
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSON)]> {
        pairs.makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.pairs.count == rhs.pairs.count
            && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(JSONObject(elements)) }
}

extension JSON {
    public subscript(key: String) -> JSON? {
        get { if case .object(let object) = self { return object[key] } else { return nil } }
        set {
            guard case .object(var object) = self else { return }
            object[key] = newValue
            self = .object(object)
        }
    }

    public subscript(index: Int) -> JSON? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { self == .null }

    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bigInt(let text): return Double(text).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    /// The JSON type's name, as an error message says what it found.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double, .bigInt: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// A short rendering of the value for error messages: `42`, `"abc"`, `an object`.
    public var shortDescription: String {
        switch self {
        case .object, .array: return typeName
        case .string(let s) where s.count > 40: return JSON.string(String(s.prefix(37)) + "...").serialized()
        case .bigInt(let text): return abbreviated(text)
        default: return serialized()
        }
    }
}

/// A text as a message may echo it: whole when short, else its start and its
/// length, so that no message runs past a line or two.
public func abbreviated(_ text: String, limit: Int = 40) -> String {
    guard text.count > limit else { return text }
    return "\(text.prefix(limit - 3))... (\(text.count) characters)"
}
