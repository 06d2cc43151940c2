import PortalBase
import PortalModel

/// One step of provisioning: what it is, for messages, and its command line.
public struct ProvisionStep: Equatable, Sendable {
    public var description: String
    public var command: String
}

/// The steps for a spec, in order, as the remote user:
/// - `extra_python_packages`, as Portal Gun did: in a bash login shell,
///   `source activate ENV` (when `python_virtual_env` is set) and `pip install`
///   the packages, each one word;
/// - each of `setup_commands`, as written, by the remote user's shell.
public func provisionSteps(for spec: PortalSpec) -> [ProvisionStep] {
    var steps: [ProvisionStep] = []
    let instance = spec.spotInstance
    if !instance.extraPythonPackages.isEmpty {
        let script: String
        var arguments: [String] = []
        if let env = instance.pythonVirtualEnv {
            script = #"source activate "$1" && shift && pip install "$@""#
            arguments.append(env)
        } else {
            script = #"pip install "$@""#
        }
        arguments += instance.extraPythonPackages
        let packages = instance.extraPythonPackages.joined(separator: " ")
        steps.append(ProvisionStep(
            description: "pip install \(packages)" + (instance.pythonVirtualEnv.map { " (in virtual env \($0))" } ?? ""),
            command: Shell.join(["bash", "-l", "-c", script, "portal-provision"] + arguments)))
    }
    let count = instance.setupCommands.count
    for (index, command) in instance.setupCommands.enumerated() {
        steps.append(ProvisionStep(description: "setup command \(index + 1) of \(count): \(command)", command: command))
    }
    return steps
}

/// Provisions the instance over a session: runs `provisionSteps` in order,
/// their output (stdout and stderr) streamed to `output` as it comes (stderr,
/// for a plumbing command), and stops at the first that fails, naming the
/// command and its exit status.
public func provision(spec: PortalSpec, session: SSHSession, output: @escaping ([UInt8]) -> Void = { _ in },
                      progress: (String) -> Void = { _ in }) throws -> ProvisionResult {
    for step in provisionSteps(for: spec) {
        progress("running \(step.description)")
        let result = try session.run(step.command, collect: false, onStdout: output, onStderr: output)
        if result.status != 0 {
            let how = result.signal.map { "was killed by signal \($0)" } ?? "failed with exit status \(result.status)"
            throw Failure("\(step.description): \(how)")
        }
    }
    return ProvisionResult(pythonVirtualEnv: spec.spotInstance.pythonVirtualEnv,
                           pythonPackages: spec.spotInstance.extraPythonPackages,
                           setupCommands: spec.spotInstance.setupCommands.count)
}
