import PortalBase

/// Portal Gun's own known_hosts file, in OpenSSH's format, with one
/// difference in use: the host field is the instance id (`i-0123…`), not an
/// address. An address is reused by other instances every day; an instance id
/// never is, so a new instance on an old address raises no false alarm, and a
/// changed key on the same instance is a real one. OpenSSH reads the same file
/// with `-o UserKnownHostsFile=FILE -o HostKeyAlias=i-0123…` (see `sshArguments`).
///
///     i-0123456789abcdef0 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI… portal-gun tofu 2026-05-01
public struct KnownHosts: Sendable {
    public var path: String

    public init(path: String) {
        self.path = path
    }

    /// `PORTAL_KNOWN_HOSTS`, else `~/.portal-gun/known_hosts`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["PORTAL_KNOWN_HOSTS"], !path.isEmpty { return path }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? passwdHomeDirectory()
        return home + "/.portal-gun/known_hosts"
    }

    public static var `default`: KnownHosts { KnownHosts(path: defaultPath()) }

    /// The keys recorded for a host name (an instance id), in file order.
    /// A missing file has none. Comment lines, hashed (`|1|…`) and marker
    /// (`@revoked`, `@cert-authority`) lines are not ours and are skipped.
    public func keys(for host: String) throws -> [HostKey] {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw Failure("'\(path)': cannot be read", status: .permission)
            }
            return []
        }
        return KnownHosts.parse(String(decoding: data, as: UTF8.self), host: host)
    }

    static func parse(_ text: String, host: String) -> [HostKey] {
        var keys: [HostKey] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimming(\.isBlank)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix("@") || trimmed.hasPrefix("|") { continue }
            guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else { continue }
            let patterns = trimmed[..<space].split(separator: ",").map(String.init)
            guard patterns.contains(host), let key = HostKey(line: String(trimmed[space...]).trimming(\.isBlank)) else {
                continue
            }
            keys.append(key)
        }
        return keys
    }

    /// One line of the file.
    public static func line(host: String, key: HostKey, comment: String? = nil) -> String {
        [host, key.openSSHText, comment].compactMap { $0 }.joined(separator: " ")
    }

    /// Appends a key for a host, creating the file (0600) and its folder
    /// (0700) as needed. The append is one write under an exclusive lock, so
    /// that concurrent connections never interleave lines.
    public func add(host: String, key: HostKey, comment: String? = nil) throws {
        let folder = PortalBase.folder(of: path)
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            do {
                try makeFolders(folder, mode: 0o700)
            } catch {
                throw Failure("'\(folder)': cannot create the folder for known hosts: \(error.message)")
            }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("'\(path)': cannot write: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        // Start on a new line if someone left the last one unfinished.
        var prefix = ""
        var size = stat()
        if fstat(fd, &size) == 0, size.st_size > 0 {
            let reader = open(path, O_RDONLY | O_CLOEXEC)
            if reader >= 0 {
                var last: UInt8 = 0
                if pread(reader, &last, 1, off_t(size.st_size - 1)) == 1, last != UInt8(ascii: "\n") { prefix = "\n" }
                close(reader)
            }
        }
        let bytes = Array((prefix + KnownHosts.line(host: host, key: key, comment: comment) + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw Failure("'\(path)': cannot write: \(String(cString: strerror(errno)))")
        }
    }
}
