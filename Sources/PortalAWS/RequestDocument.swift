import PortalBase

/// The HTTP request document that `portal-sign` reads and writes:
/// `{"method", "url", "headers", "body" | "body_base64", "region", "service"}`.
/// Headers are `[[name, value], …]` (order and repeats kept) or `{name: value}`;
/// the output keeps the form of the input and every key it did not write.
public struct RequestDocument {
    public var json: JSONObject
    public var request: HTTPRequest
    public var region: String?
    public var service: String?
    var headersAsObject = false

    public init(_ value: JSON) throws {
        guard case .object(let object) = value else {
            throw Failure("<stdin>: expected a JSON object, found \(value.typeName)", status: .dataError)
        }
        json = object
        func string(_ key: String, required: Bool) throws -> String? {
            switch object[key] {
            case nil, .null?:
                if required { throw Failure("<stdin>: \(key): required, not found", status: .dataError) }
                return nil
            case .string(let s)?: return s
            case let other?:
                throw Failure("<stdin>: \(key): expected a string, found \(other.shortDescription)", status: .dataError)
            }
        }
        let method = try string("method", required: false) ?? "GET"
        guard let url = try string("url", required: true), url.contains("://") else {
            throw Failure("<stdin>: url: expected an absolute URL such as \"https://ec2.us-east-1.amazonaws.com/\"",
                          status: .dataError)
        }
        var headers: [HTTPRequest.Header] = []
        switch object["headers"] {
        case nil, .null?: break
        case .array(let pairs)?:
            for (i, pair) in pairs.enumerated() {
                guard case .array(let items) = pair, items.count == 2, let name = items[0].stringValue,
                    let value = items[1].stringValue
                else {
                    throw Failure("<stdin>: headers[\(i)]: expected a [name, value] pair of strings, found \(pair.shortDescription)",
                                  status: .dataError)
                }
                headers.append(.init(name, value))
            }
        case .object(let map)?:
            headersAsObject = true
            for (name, value) in map {
                guard let value = value.stringValue else {
                    throw Failure("<stdin>: headers.\(name): expected a string, found \(value.shortDescription)",
                                  status: .dataError)
                }
                headers.append(.init(name, value))
            }
        case let other?:
            throw Failure("<stdin>: headers: expected an array of [name, value] pairs or an object, found \(other.typeName)",
                          status: .dataError)
        }
        var body: [UInt8] = []
        if let text = try string("body", required: false) {
            body = Array(text.utf8)
        } else if let encoded = try string("body_base64", required: false) {
            guard let data = Data(base64Encoded: encoded) else {
                throw Failure("<stdin>: body_base64: not valid base64", status: .dataError)
            }
            body = Array(data)
        }
        request = HTTPRequest(method: method.uppercased(), url: url, headers: headers, body: body)
        region = try string("region", required: false)
        if let region, !AWSNames.isRegion(region) {
            throw Failure("<stdin>: region: expected a region such as \"us-east-1\", found \(JSON.string(region).shortDescription)",
                          status: .dataError)
        }
        service = try string("service", required: false)
    }

    /// The service named in the host, as in `ec2.us-east-1.amazonaws.com`.
    public var serviceFromHost: String? {
        let host = request.parts.host
        guard host.hasSuffix(".amazonaws.com") else { return nil }
        return host.split(separator: ".").first.map(String.init)
    }

    /// The document with the request's url and headers as signed.
    public func output(_ signed: HTTPRequest) -> JSON {
        var out = json
        out["method"] = .string(signed.method)
        out["url"] = .string(signed.url)
        if headersAsObject {
            var map = JSONObject()
            for header in signed.headers { map[header.name] = .string(header.value) }
            out["headers"] = .object(map)
        } else {
            out["headers"] = .array(signed.headers.map { [.string($0.name), .string($0.value)] })
        }
        return .object(out)
    }
}
