import PortalBase

/// The JSON parser (PortalBase). Every input parses or throws a syntax error
/// with a position; a document that parses is written back (compact and
/// indented), and what the writer wrote parses and writes to the same text.
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
    _ = value.shortDescription
    return 0
}
