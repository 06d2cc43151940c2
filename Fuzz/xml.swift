@testable import PortalAWS
import PortalBase

/// The XML response decoder (PortalAWS): an EC2 or STS answer turned into
/// JSON (which must write and parse back), and an error body read into an
/// AWSError, as AWSClient does with every response.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzXML(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let json = try? XMLToJSON.convert(bytes) {
        let text = json.serialized()
        guard (try? JSON(parsing: text)) != nil else { fatalError("decoded to JSON that does not parse: \(text)") }
    }
    let error = AWSError.decode(bytes, status: 400, service: "ec2", action: "Fuzz")
    _ = (error.description, error.exitStatus, error.hints)
    return 0
}
