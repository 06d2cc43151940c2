import PortalBase

/// An XML element as the EC2 and STS Query APIs answer: elements and text,
/// no mixed content that matters.
struct XMLElement: Equatable {
    var name: String
    var children: [XMLElement] = []
    var text: String = ""

    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

    /// The first element of this name anywhere below, depth first.
    func find(_ name: String) -> XMLElement? {
        for child in children {
            if child.name == name { return child }
            if let found = child.find(name) { return found }
        }
        return nil
    }
}

/// Reads the XML that the EC2 and STS Query APIs answer with into an
/// `XMLElement` tree: UTF-8, an optional XML declaration, elements (their
/// attributes read and dropped), text, the five predefined entities and
/// character references, CDATA sections and comments. What AWS never sends
/// (a document type declaration, processing instructions, other entities,
/// nesting deeper than libxml2's default limit of 256) is refused. Our own
/// reader, not Foundation's XMLParser: FoundationXML needs the full
/// Foundation, whose ICU data costs every process that links it about
/// 12 MiB of memory and 10 ms of start-up (bin/bench).
enum XMLDocumentParser {
    static let maxDepth = 256

    static func parse(_ bytes: [UInt8]) throws -> XMLElement {
        var reader = Reader(bytes: bytes)
        do {
            return try reader.document()
        } catch let error as Reader.Refusal {
            let at = error.offset.map { " (at byte \($0))" } ?? ""
            throw Failure("AWS answered with XML that could not be read: \(error.reason)\(at)", status: .failure)
        }
    }

    struct Reader {
        struct Refusal: Error {
            var reason: String
            var offset: Int?
        }

        let bytes: [UInt8]
        var at = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func refuse(_ reason: String) -> Refusal { Refusal(reason: reason, offset: at) }

        mutating func document() throws -> XMLElement {
            guard String(validating: bytes, as: UTF8.self) != nil else { throw Refusal(reason: "it is not UTF-8") }
            if starts(with: [0xEF, 0xBB, 0xBF]) { at += 3 }  // a byte order mark
            if starts(with: "<?xml") && at + 5 < bytes.count && isSpace(bytes[at + 5]) {
                guard let end = find("?>") else { throw refuse("the XML declaration does not end") }
                at = end + 2
            }
            try miscellany()
            guard at < bytes.count else { throw refuse("no root element") }
            let root = try element()
            try miscellany()
            guard at == bytes.count else { throw refuse("more than one root element, or text after it") }
            return root
        }

        /// Space and comments, outside the root element.
        mutating func miscellany() throws {
            while at < bytes.count {
                if isSpace(bytes[at]) {
                    at += 1
                } else if starts(with: "<!--") {
                    try comment()
                } else if starts(with: "<?") {
                    throw refuse("it holds a processing instruction")
                } else if starts(with: "<!") {
                    throw refuse("it holds a document type declaration")
                } else {
                    return
                }
            }
        }

        /// The element that starts here, with everything inside it; an
        /// explicit stack rather than recursion, so that no input runs the
        /// stack out.
        mutating func element() throws -> XMLElement {
            var stack: [XMLElement] = []
            var text: [UInt8] = []
            func flush(into stack: inout [XMLElement]) {
                if !text.isEmpty, !stack.isEmpty { stack[stack.count - 1].text += String(decoding: text, as: UTF8.self) }
                text.removeAll(keepingCapacity: true)
            }
            repeat {
                guard at < bytes.count else { throw refuse("the document ends inside <\(stack.last?.name ?? "")>") }
                let byte = bytes[at]
                if byte == UInt8(ascii: "&") {
                    try reference(into: &text)
                } else if byte != UInt8(ascii: "<") {
                    if byte == 0x0D {  // line ends read as \n, as XML says
                        text.append(0x0A)
                        if at + 1 < bytes.count && bytes[at + 1] == 0x0A { at += 1 }
                    } else {
                        text.append(byte)
                    }
                    at += 1
                } else if starts(with: "<!--") {
                    try comment()
                } else if starts(with: "<![CDATA[") {
                    at += 9
                    guard let end = find("]]>") else { throw refuse("a CDATA section does not end") }
                    text += bytes[at..<end]
                    at = end + 3
                } else if starts(with: "<?") {
                    throw refuse("it holds a processing instruction")
                } else if starts(with: "<!") {
                    throw refuse("it holds a document type declaration")
                } else if starts(with: "</") {
                    flush(into: &stack)
                    at += 2
                    let name = try self.name()
                    skipSpace()
                    guard at < bytes.count && bytes[at] == UInt8(ascii: ">") else { throw refuse("an end tag of <\(name)> without '>'") }
                    at += 1
                    guard let open = stack.popLast() else { throw refuse("an end tag without a start tag") }
                    guard open.name == name else { throw refuse("<\(open.name)> ends with </\(name)>") }
                    if stack.isEmpty { return open }
                    stack[stack.count - 1].children.append(open)
                } else {
                    flush(into: &stack)
                    at += 1
                    let element = XMLElement(name: try name())
                    let empty = try attributes()
                    if empty {
                        if stack.isEmpty { return element }
                        stack[stack.count - 1].children.append(element)
                    } else {
                        guard stack.count < XMLDocumentParser.maxDepth else {
                            throw refuse("elements nest deeper than \(XMLDocumentParser.maxDepth)")
                        }
                        stack.append(element)
                    }
                }
                if stack.isEmpty && !text.isEmpty { throw refuse("text outside the root element") }
            } while !stack.isEmpty
            throw refuse("no root element")
        }

        /// Reads (and drops) the attributes of a start tag up to its `>`
        /// or `/>`; true for `/>`.
        mutating func attributes() throws -> Bool {
            while true {
                let spaced = skipSpace()
                guard at < bytes.count else { throw refuse("a start tag does not end") }
                if bytes[at] == UInt8(ascii: ">") { at += 1; return false }
                if starts(with: "/>") { at += 2; return true }
                guard spaced else { throw refuse("no space before an attribute") }
                _ = try name()
                skipSpace()
                guard at < bytes.count && bytes[at] == UInt8(ascii: "=") else { throw refuse("an attribute without '='") }
                at += 1
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") || bytes[at] == UInt8(ascii: "'") else {
                    throw refuse("an attribute value without quotes")
                }
                let quote = bytes[at]
                at += 1
                var ignored: [UInt8] = []
                while at < bytes.count && bytes[at] != quote {
                    if bytes[at] == UInt8(ascii: "<") { throw refuse("'<' in an attribute value") }
                    if bytes[at] == UInt8(ascii: "&") { try reference(into: &ignored) } else { at += 1 }
                }
                guard at < bytes.count else { throw refuse("an attribute value does not end") }
                at += 1
            }
        }

        /// An element or attribute name (a namespace prefix stays part of it).
        mutating func name() throws -> String {
            let start = at
            func allowed(_ byte: UInt8, first: Bool) -> Bool {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...: return true
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."): return !first
                default: return false
                }
            }
            while at < bytes.count && allowed(bytes[at], first: at == start) { at += 1 }
            guard at > start else { throw refuse("a tag without a name") }
            return String(decoding: bytes[start..<at], as: UTF8.self)
        }

        /// `&amp;` and the other four, `&#65;`, `&#x41;`.
        mutating func reference(into text: inout [UInt8]) throws {
            guard let end = bytes[at...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw refuse("an '&' that starts no entity")
            }
            let body = String(decoding: bytes[(at + 1)..<end], as: UTF8.self)
            let named: [String: UInt8] = ["amp": 0x26, "lt": 0x3C, "gt": 0x3E, "quot": 0x22, "apos": 0x27]
            if let byte = named[body] {
                text.append(byte)
            } else if body.hasPrefix("#") {
                let digits = body.dropFirst()
                let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
                guard let value, !digits.hasPrefix("x+"), !digits.hasPrefix("+"), value != 0,
                    let scalar = Unicode.Scalar(value)
                else { throw refuse("a character reference to no character: &\(body);") }
                text += Array(String(Character(scalar)).utf8)
            } else {
                throw refuse("an entity XML does not define: &\(body);")
            }
            at = end + 1
        }

        mutating func comment() throws {
            at += 4
            guard let end = find("-->") else { throw refuse("a comment does not end") }
            at = end + 3
        }

        @discardableResult
        mutating func skipSpace() -> Bool {
            let start = at
            while at < bytes.count && isSpace(bytes[at]) { at += 1 }
            return at > start
        }

        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

        func starts(with prefix: some Sequence<UInt8>) -> Bool { bytes[at...].starts(with: prefix) }

        func starts(with prefix: String) -> Bool { starts(with: prefix.utf8) }

        /// Where `text` next occurs from here on.
        func find(_ text: String) -> Int? { bytes[at...].firstRange(of: Array(text.utf8))?.lowerBound }
    }
}

/// Turns an EC2 or STS response into JSON: the root element's children as an
/// object; `<xSet><item>…</item></xSet>` (and STS's `<member>`) as arrays, with
/// no `item` wrappers; an empty `…Set` as `[]`; integers and booleans typed,
/// except under keys that name identifiers or free text (`…Id`, `Account`,
/// `key`, `value`, …), which stay strings even when they look like numbers.
public enum XMLToJSON {
    static let listItemNames: Set<String> = ["item", "member"]

    /// Keys whose values are text even when they look like numbers.
    static func keepsString(_ key: String) -> Bool {
        if key.hasSuffix("Id") || key.hasSuffix("ID") || key.hasSuffix("Ids") { return true }
        return [
            "Account", "account", "key", "value", "Key", "Value", "name", "Name", "description",
            "Description", "message", "Message", "Code", "Arn", "arn", "clientToken", "ownerAlias",
        ].contains(key)
    }

    public static func convert(_ bytes: [UInt8]) throws -> JSON {
        let root = try XMLDocumentParser.parse(bytes)
        return convertChildren(of: root)
    }

    static func convert(_ element: XMLElement) -> JSON {
        if element.children.isEmpty {
            if element.name.hasSuffix("Set") || element.name.hasSuffix("Sets") {
                if element.text.allSatisfy(\.isWhitespace) { return .array([]) }
            }
            return scalar(element.text, key: element.name)
        }
        if element.children.allSatisfy({ listItemNames.contains($0.name) }) {
            return .array(element.children.map { item in
                item.children.isEmpty ? scalar(item.text, key: element.name) : convert(item)
            })
        }
        return convertChildren(of: element)
    }

    static func convertChildren(of element: XMLElement) -> JSON {
        var object = JSONObject()
        var repeated: Set<String> = []
        for child in element.children {
            let value = convert(child)
            if let existing = object[child.name] {
                if repeated.contains(child.name), case .array(var list) = existing {
                    list.append(value)
                    object[child.name] = .array(list)
                } else {
                    object[child.name] = .array([existing, value])
                    repeated.insert(child.name)
                }
            } else {
                object[child.name] = value
            }
        }
        return .object(object)
    }

    static func scalar(_ text: String, key: String) -> JSON {
        if keepsString(key) { return .string(text) }
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        let bytes = Array(text.utf8)
        let digits = bytes.first == UInt8(ascii: "-") ? bytes.dropFirst() : bytes[...]
        if !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ (48...57).contains($0) }),
            digits.count == 1 || digits.first != UInt8(ascii: "0"), let value = Int64(text)
        {
            return .int(value)
        }
        return .string(text)
    }
}
