import PortalBase
import PortalModel

/// The spec validator (PortalCore): spec text as `portal-spec` reads it, and
/// as the `"spec"` of a portal document. Every input is a spec or a
/// `SpecError` with at least one problem; a valid spec, written as JSON and
/// validated again, is the same spec. Files are not looked at (checkFiles).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = Array(UnsafeBufferPointer(start: data, count: size))
    func validate(strict: Bool) -> (spec: PortalSpec, warnings: [String])? {
        do {
            return try PortalSpec.validate(text: text, file: "fuzz.json", strict: strict, directory: "/fuzz/specs",
                                           home: "/fuzz/home", checkFiles: false)
        } catch let error as SpecError {
            precondition(!error.problems.isEmpty)
            _ = error.description
            return nil
        } catch {
            fatalError("not a SpecError: \(error)")
        }
    }
    if let (spec, warnings) = validate(strict: false) {
        do {
            let again = try PortalSpec.validate(json: spec.toJSON(), file: "fuzz.json", strict: true,
                                                directory: "/elsewhere", home: "/elsewhere", checkFiles: false)
            precondition(again.spec == spec, "validated again, a different spec: \(spec.toJSON().serialized())")
        } catch {
            fatalError("a valid spec, written as JSON, is refused: \(error) \(spec.toJSON().serialized())")
        }
        // Unknown keys: warnings, or errors when strict. (Other warnings, such
        // as a value Portal Gun 0.x coerced, stay warnings when strict.)
        if warnings.contains(where: { $0.contains("unknown key") }), validate(strict: true) != nil {
            fatalError("unknown keys are accepted when strict")
        }
    }
    if let json = try? JSON(parsing: text) {
        let document: JSON = ["name": "fuzz", "spec": json]
        if let read = try? PortalDocument(json: document, checkFiles: false) {
            precondition(read.json["spec"] == json, "an unchanged spec is written back as read")
        }
    }
    return 0
}
