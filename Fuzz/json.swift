import PortalBase

/// The JSON parser (PortalBase). Every input parses or throws a syntax error
/// with a position; a document that parses is written back (compact and
/// indented), and what the writer wrote parses and writes to the same text.
/// An object's keys are all found, and removing some keeps the others' order.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let value: JSON
    do {
        value = try JSON(parsing: Array(UnsafeBufferPointer(start: data, count: size)))
    } catch {
        precondition(error.line >= 1 && error.column >= 1, "\(error)")
        return 0
    }
    for pretty in [false, true] {
        let text = value.serialized(pretty: pretty)
        guard let again = try? JSON(parsing: text) else { fatalError("the writer wrote what does not parse: \(text)") }
        let textAgain = again.serialized(pretty: pretty)
        precondition(textAgain == text, "written twice, differently: \(text) then \(textAgain)")
    }
    // The object storage: each key is found; removing keys keeps the others' order.
    if case .object(let object) = value {
        var odd = object
        for (i, key) in object.keys.enumerated() where i % 2 == 0 {
            precondition(object[key] != nil, "key \(key) not found")
            odd[key] = nil
        }
        precondition(odd.keys == object.keys.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
    }
    _ = value.shortDescription
    return 0
}
