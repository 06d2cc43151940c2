import PortalBase
import PortalModel

/// One transfer: what `portal-sync` prints as one JSON line.
public struct Transfer: Equatable, Sendable {
    /// Why the transfer ran: a full pass (at start, after a lost connection,
    /// after the kernel dropped events), the changes seen, or a poll.
    public enum Pass: String, Sendable {
        case full, changes, poll
    }

    public var channel: Int
    public var direction: PortalSpec.Channel.Direction
    /// Regular files written on the receiving side.
    public var files: Int
    /// Their sizes, added up.
    public var bytes: Int64
    /// Names deleted on the receiving side (only with `"delete": true`).
    public var deleted: Int
    /// When the transfer started (wall clock).
    public var started: Date
    /// How long it took, in milliseconds.
    public var milliseconds: Int
    public var pass: Pass
    /// The first `Transfer.maximumPaths` names written or deleted, as rsync
    /// names them (relative to the source's base: `src/train.py` for the
    /// folder form, `train.py` for the contents form).
    public var paths: [String]

    public static let maximumPaths = 100

    public init(channel: Int, direction: PortalSpec.Channel.Direction, files: Int, bytes: Int64, deleted: Int = 0,
                started: Date, milliseconds: Int, pass: Pass, paths: [String] = []) {
        self.channel = channel
        self.direction = direction
        self.files = files
        self.bytes = bytes
        self.deleted = deleted
        self.started = started
        self.milliseconds = milliseconds
        self.pass = pass
        self.paths = paths
    }

    /// `{"channel": 0, "direction": "out", "files": 1, "bytes": 4300,
    /// "started": "2026-05-01T12:01:33.120Z", "ms": 35, "deleted": 0,
    /// "pass": "changes", "paths": ["src/train.py"]}`
    public var json: JSON {
        .object(JSONObject([
            ("channel", .int(Int64(channel))),
            ("direction", .string(direction.rawValue)),
            ("files", .int(Int64(files))),
            ("bytes", .int(bytes)),
            ("started", .string(iso8601(started))),
            ("ms", .int(Int64(milliseconds))),
            ("deleted", .int(Int64(deleted))),
            ("pass", .string(pass.rawValue)),
            ("paths", .array(paths.map { .string($0) })),
        ]))
    }

    public init?(json: JSON) {
        guard let channel = json["channel"]?.intValue,
              let direction = json["direction"]?.stringValue.flatMap(PortalSpec.Channel.Direction.init(rawValue:)),
              let files = json["files"]?.intValue, let bytes = json["bytes"]?.intValue,
              let started = json["started"]?.stringValue.flatMap(parseISO8601),
              let ms = json["ms"]?.intValue else { return nil }
        self.init(channel: Int(channel), direction: direction, files: Int(files), bytes: bytes,
                  deleted: Int(json["deleted"]?.intValue ?? 0), started: started, milliseconds: Int(ms),
                  pass: json["pass"]?.stringValue.flatMap(Pass.init(rawValue:)) ?? .changes,
                  paths: json["paths"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}

/// What a sync session reports: a transfer, or an error (the session goes on).
public enum SyncEvent: Equatable, Sendable {
    case transfer(Transfer)
    /// An error of one channel (nil: of the session, such as the connection).
    case error(channel: Int?, direction: PortalSpec.Channel.Direction?, message: String)

    /// `{"channel": 0, "direction": "out", "error": "…"}`
    public var json: JSON {
        switch self {
        case .transfer(let transfer):
            return transfer.json
        case .error(let channel, let direction, let message):
            return .object(JSONObject([
                ("channel", channel.map { .int(Int64($0)) } ?? .null),
                ("direction", direction.map { .string($0.rawValue) } ?? .null),
                ("error", .string(message)),
            ]))
        }
    }

    /// One line of portal-sync's stdout.
    public var line: String { json.serialized() }

    public init?(json: JSON) {
        if let message = json["error"]?.stringValue {
            self = .error(channel: json["channel"]?.intValue.map { Int($0) },
                          direction: json["direction"]?.stringValue.flatMap(PortalSpec.Channel.Direction.init(rawValue:)),
                          message: message)
        } else if let transfer = Transfer(json: json) {
            self = .transfer(transfer)
        } else {
            return nil
        }
    }
}

/// What rsync's `--out-format=%i %l %n` lines say: files written (`>f…`
/// sent, `<f…`… received are both "a file arrived"), their sizes, deletions.
public struct RsyncSummary: Equatable, Sendable {
    public var files = 0
    public var bytes: Int64 = 0
    public var deleted = 0
    public var paths: [String] = []

    public init() {}

    public init(output: String) {
        for line in output.split(separator: "\n", omittingEmptySubsequences: true) {
            add(line: String(line))
        }
    }

    public mutating func add(line: String) {
        if line.hasPrefix("*deleting ") {
            deleted += 1
            // "*deleting   0 NAME": the item column is padded, then the length.
            let rest = line.dropFirst("*deleting".count).drop(while: { $0 == " " })
            let name = rest.drop(while: { $0 != " " }).dropFirst()
            if paths.count < Transfer.maximumPaths { paths.append(String(name)) }
            return
        }
        let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else { return }
        let item = Array(fields[0].utf8)
        guard item.count >= 2, item[0] == UInt8(ascii: ">") || item[0] == UInt8(ascii: "<"),
              item[1] == UInt8(ascii: "f") else { return }
        files += 1
        bytes += Int64(fields[1]) ?? 0
        if paths.count < Transfer.maximumPaths { paths.append(String(fields[2])) }
    }
}
