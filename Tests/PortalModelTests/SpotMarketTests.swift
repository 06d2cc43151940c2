import Foundation
import PortalBase
import Testing

@testable import PortalModel

/// The spot market keys of a spec (the corpus has their good and broken
/// cases: good/spot-market, broken/spot-market-*).
struct SpotMarketTests {
    static let base: JSON = [
        "spot_instance": [
            "instance_type": "g5.xlarge", "image_id": "ami-0123456789abcdef0", "key_pair_name": "portal",
            "identity_file": "~/.ssh/portal", "security_group_id": "sg-0123", "availability_zone": "us-east-1a",
        ],
    ]

    static func spec(_ extra: [(String, JSON)]) throws -> PortalSpec {
        var object = base.objectValue!
        for (key, value) in extra { object[key] = value }
        return try validate(.object(object)).spec
    }

    @Test("without the keys a spec asks for nothing, needs no watcher, and its normalised form has none of them")
    func absent() throws {
        let spec = try Self.spec([])
        #expect(spec.spotMarket == SpotMarket())
        #expect(!spec.spotMarket.needsWatcher)
        #expect(spec.toJSON()["reopen"] == nil && spec.toJSON()["run"] == nil)
    }

    @Test("any one key needs the watcher, and the normalised form validates to the same spec")
    func roundTrip() throws {
        for (key, value) in [("run", JSON.string("python train.py")), ("interruption_hook", ["sync"]), ("reopen", true),
                             ("max_hours", 0.5), ("idle_minutes", 20)] {
            let spec = try Self.spec([(key, value)])
            #expect(spec.spotMarket.needsWatcher, "\(key)")
            let again = try PortalSpec.validate(json: spec.toJSON(), file: "t.json", strict: true, directory: "/",
                                                home: TestHome.path, checkFiles: false).spec
            #expect(again == spec, "\(key)")
        }
    }

    @Test("fallback types follow the spec's own type, which is never tried twice")
    func instanceTypes() throws {
        let spec = try Self.spec([("fallback_instance_types", ["g4dn.xlarge", "g5.xlarge", "g6.xlarge"])])
        #expect(spec.spotMarket.instanceTypes(first: spec.spotInstance.instanceType) == ["g5.xlarge", "g4dn.xlarge", "g6.xlarge"])
    }

    @Test("a misspelt key is reported with the key it was meant to be")
    func misspelt() throws {
        let warnings = try validate(.object(Self.base.objectValue!.merging([("max_hour", 3)]))).warnings
        #expect(warnings == ["'test.json': max_hour: unknown key; did you mean 'max_hours'?"])
    }
}

extension JSONObject {
    func merging(_ pairs: [(String, JSON)]) -> JSONObject {
        var object = self
        for (key, value) in pairs { object[key] = value }
        return object
    }
}
