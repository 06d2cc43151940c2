import Foundation
import PortalBase
import Testing

@testable import PortalModel

/// The compat corpus, Fixtures/specs/compat: specs as Portal Gun 0.x's
/// documentation (docs/portal_spec.rst, its README) and its schema
/// (marshmallow String, Boolean and Float fields, which coerce "true", 1,
/// "0.5") accept them, and AWS would run. `NAME.json` beside `NAME.expected`:
/// the warnings, one a line (an empty file: none). Each is validated as
/// portal-spec validates it: files checked, their problems warnings.
enum CompatCorpus {
    static let names = Corpus.cases(in: "compat")

    static func warnings(_ name: String) throws -> [String] {
        try Corpus.expected("compat", name + ".expected").split(separator: "\n").map(String.init)
    }

    static func validate(_ name: String) throws -> (spec: PortalSpec, warnings: [String]) {
        try PortalSpec.validate(text: try Corpus.read("compat", name + ".json"), file: name + ".json", strict: true,
                                directory: Corpus.directory, home: TestHome.path, filesWarn: true)
    }
}

@Suite("specs written for Portal Gun 0.x")
struct CompatSpecTests {
    @Test("the compat corpus has at least 25 specs, each with its expected warnings")
    func corpusIsThere() throws {
        #expect(CompatCorpus.names.count >= 25)
        for name in CompatCorpus.names { _ = try CompatCorpus.warnings(name) }
    }

    @Test("a spec Portal Gun 0.x accepted is accepted, with exactly the expected warnings", arguments: CompatCorpus.names)
    func accepted(_ name: String) throws {
        let (spec, warnings) = try CompatCorpus.validate(name)
        #expect(warnings == (try CompatCorpus.warnings(name)))
        // What it became is valid on its own, without a warning.
        let again = try PortalSpec.validate(json: spec.toJSON(), file: name + ".json", strict: true,
                                            directory: Corpus.directory, home: TestHome.path, checkFiles: false)
        #expect(again.spec == spec)
        #expect(again.warnings.isEmpty)
    }

    @Test("optional strings given as \"\" are absent")
    func emptyStringsAreAbsent() throws {
        let spec = try CompatCorpus.validate("draft-with-optional-strings-empty").spec
        #expect(spec.spotInstance.subnetID == nil)
        #expect(spec.spotInstance.pythonVirtualEnv == nil)
        #expect(try CompatCorpus.validate("remote-group-empty").spec.spotInstance.remoteGroup == "ubuntu")
    }

    @Test("coerced values become the JSON they stand for")
    func coercedValues() throws {
        #expect(try CompatCorpus.validate("ebs-optimized-capitalised").spec.spotInstance.ebsOptimized == true)
        #expect(try CompatCorpus.validate("ebs-optimized-zero").spec.spotInstance.ebsOptimized == false)
        #expect(try CompatCorpus.validate("recursive-off").spec.channels[0].recursive == false)
        #expect(try CompatCorpus.validate("delay-string").spec.channels[0].delay == 0.5)
        let all = try CompatCorpus.validate("coerced-everywhere").spec
        #expect(all.spotInstance.ebsOptimized && all.channels[0].recursive && all.channels[0].delay == 0)
    }

    @Test("a value outside what Portal Gun 0.x coerced is still refused, naming the field")
    func outsideTheSetsIsRefused() throws {
        var spec = minimalSpec
        spec["spot_instance"]?["ebs_optimized"] = "sure"
        spec["channels"] = [["direction": "out", "local_path": "a", "remote_path": "b", "recursive": 2, "delay": "soon"]]
        let error = #expect(throws: SpecError.self) { try validate(spec, file: "gpu.json") }
        #expect(error?.problems == [
            "spot_instance.ebs_optimized: expected true or false, found \"sure\"",
            "channels[0].recursive: expected true or false, found 2",
            "channels[0].delay: expected a number of seconds, 0 or more, found \"soon\"",
        ])
    }

    @Test("delay 0 is polled as often as sensible, not in a busy loop")
    func delayZero() throws {
        let channel = try CompatCorpus.validate("delay-zero").spec.channels[0]
        #expect(channel.delay == 0)
        #expect(channel.pollInterval > 0)
        #expect(PortalSpec.Channel(direction: .in, localPath: "/a", remotePath: "b", delay: 5).pollInterval == 5)
    }

    @Test("a bare device name is the /dev/ one")
    func bareDevice() throws {
        #expect(try CompatCorpus.validate("device-bare-name").spec.persistentVolumes[0].device == "/dev/xvdf")
        #expect(try CompatCorpus.validate("device-bare-sd-name").spec.persistentVolumes[0].device == "/dev/sdf")
    }

    @Test("relative remote paths stay relative to the remote user's home, ~/ dropped, for the instance to resolve")
    func relativeRemotePaths() throws {
        #expect(try CompatCorpus.validate("mount-point-relative").spec.persistentVolumes[0].mountPoint == "workspace")
        #expect(try CompatCorpus.validate("mount-point-in-home").spec.persistentVolumes[0].mountPoint == "workspace")
        #expect(try CompatCorpus.validate("remote-path-relative").spec.channels[0].remotePath == "workspace/src")
        #expect(try CompatCorpus.validate("remote-path-in-home").spec.channels[1].remotePath == "workspace/results/")
        #expect(SpecPaths.remote("./a//b/../c/", keepingTrailingSlash: true) == "a/c/")
        #expect(SpecPaths.remote("~", keepingTrailingSlash: false) == ".")
        #expect(SpecPaths.remote("/srv/./data/", keepingTrailingSlash: false) == "/srv/data")
        // A relative path is in the home folder, apart from any absolute one.
        #expect(SpecPaths.relation(of: "data", to: "/data") == nil)
        #expect(SpecPaths.relation(of: "data/src", to: "data") == "is inside")
    }

    @Test("a missing identity file is a warning for portal-spec and an error for the commands that connect")
    func identityFileMissing() throws {
        let text = try Corpus.read("compat", "identity-file-not-on-this-machine.json")
        let error = #expect(throws: SpecError.self) {
            try PortalSpec.validate(text: text, file: "x.json", strict: true, directory: Corpus.directory,
                                    home: TestHome.path)
        }
        #expect(error?.problems == ["spot_instance.identity_file: '\(TestHome.path)/.ssh/portal-gun.pem' does not exist"])
        let (_, warnings) = try PortalSpec.validate(text: text, file: "x.json", strict: true,
                                                    directory: Corpus.directory, home: TestHome.path, filesWarn: true)
        #expect(warnings.count == 1)
    }
}
