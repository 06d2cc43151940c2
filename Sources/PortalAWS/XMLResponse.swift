import Foundation
import PortalBase

#if canImport(FoundationXML)
    import FoundationXML
#endif

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

/// Parses XML with Foundation's XMLParser into an `XMLElement` tree.
enum XMLDocumentParser {
    static func parse(_ bytes: [UInt8]) throws -> XMLElement {
        if let reason = refusal(bytes) {
            throw Failure("AWS answered with XML that could not be read: \(reason)", status: .failure)
        }
        let delegate = TreeBuilder()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = delegate
        parser.shouldProcessNamespaces = false
        guard parser.parse(), let root = delegate.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"
            throw Failure("AWS answered with XML that could not be read: \(reason)", status: .failure)
        }
        return root
    }

    /// What FoundationXML's parser crashes on (found by bin/fuzz xml): an
    /// element name that is not UTF-8 (`<\u{FF}`) traps, and a processing
    /// instruction without data (`<?m?>`) reads through a null pointer. AWS
    /// answers in UTF-8 with no processing instruction but the XML
    /// declaration, so anything else is refused before the parser sees it.
    static func refusal(_ bytes: [UInt8]) -> String? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return "it is not UTF-8" }
        var rest = bytes[...]
        if rest.starts(with: "<?xml".utf8), rest.count > 5, [0x20, 0x09, 0x0A, 0x0D].contains(rest[5]),
            let end = rest.firstRange(of: "?>".utf8)
        {
            rest = rest[end.upperBound...]
        }
        return rest.firstRange(of: "<?".utf8) == nil ? nil : "it holds a processing instruction"
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLElement] = []
        var root: XMLElement?

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:])
        {
            stack.append(XMLElement(name: elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?)
        {
            guard let element = stack.popLast() else { return }
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }
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
