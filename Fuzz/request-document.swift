import Foundation
import PortalAWS
import PortalBase

/// portal-sign's request document (PortalAWS): read, signed (in headers and
/// presigned) with fixed credentials and clock, written back; the written
/// document reads again as the signed request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDocument(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let json = try? JSON(parsing: Array(UnsafeBufferPointer(start: data, count: size))),
        let document = try? RequestDocument(json)
    else { return 0 }
    let credentials = AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     sessionToken: size % 2 == 0 ? nil : "token")
    let signer = SigV4(credentials: credentials, region: document.region ?? "us-east-1",
                       service: document.service ?? document.serviceFromHost ?? "service")
    let date = Date(timeIntervalSince1970: 1_440_938_160)
    for signed in [signer.sign(document.request, date: date), signer.presign(document.request, expires: 300, date: date)] {
        let output = document.output(signed)
        guard let reread = try? RequestDocument(JSON(parsing: output.serialized())) else {
            fatalError("the signed document does not read again: \(output.serialized())")
        }
        precondition(reread.request.url == signed.url && reread.request.headers == signed.headers,
                     "the signed document reads as another request")
    }
    return 0
}
