import PortalBase
import PortalCrypto

extension AWSClient {
    /// The caller's ARN (STS GetCallerIdentity), which Portal Gun writes in the
    /// `created-by` tag and filters by. An access key always belongs to the
    /// same principal, so the answer is cached per access key and endpoint in
    /// `~/.cache/portal-gun/identity/` (the file is named by a hash: no key
    /// appears in it). Temporary credentials (with a session token) are cached
    /// too: their key id is new for every session, so a stale entry cannot be
    /// hit. `PORTAL_NO_CACHE=1` turns the cache off.
    public func callerARN() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let useCache = environment["PORTAL_NO_CACHE"] != "1"
        let home = environment["HOME"] ?? passwdHomeDirectory()
        let cacheDirectory = (environment["XDG_CACHE_HOME"] ?? home + "/.cache") + "/portal-gun/identity"
        let key = SHA256.hash(Array("\(configuration.credentials.accessKeyId)\n\(configuration.endpoint(for: "sts"))".utf8)).hex
        let file = cacheDirectory + "/" + key
        if useCache, let data = FileManager.default.contents(atPath: file),
            let arn = String(data: data, encoding: .utf8), arn.hasPrefix("arn:")
        {
            return arn
        }
        let answer = try call("GetCallerIdentity", service: "sts")
        guard let arn = answer["GetCallerIdentityResult"]?["Arn"]?.stringValue else {
            throw Failure("STS GetCallerIdentity answered without an Arn")
        }
        if useCache {
            try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
            // A cache: when it cannot be written, the next call asks STS again.
            _ = FileManager.default.createFile(atPath: file, contents: Data(arn.utf8), attributes: [.posixPermissions: 0o600])
        }
        return arn
    }
}
