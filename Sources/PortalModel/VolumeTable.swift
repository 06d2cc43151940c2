import PortalBase

extension Volume {
    /// The table `portal volume list` prints: a header, one line per volume,
    /// columns aligned with two spaces between them, sizes right-aligned, `-`
    /// for an empty cell, no trailing spaces.
    public static func table(_ volumes: [Volume]) -> String {
        let header = ["ID", "NAME", "SIZE", "ZONE", "STATE", "INSTANCE", "PORTAL", "MOUNT POINT", "TAGS"]
        let rows = volumes.map { volume in
            [volume.id.rawValue, volume.name, "\(volume.sizeGiB) GiB", volume.zone, volume.state, volume.instanceID?.rawValue,
             volume.portal, volume.mountPoint, volume.userTags.map { "\($0.0):\($0.1)" }.joined(separator: " ")]
                .map { cell(($0 ?? "")) }
        }
        return Table.render(header: header, rows: rows, rightAligned: [2])
    }

    /// A cell of the table: `-` when empty, control characters (a newline in
    /// a tag) shown as `?` so that they cannot break the lines.
    static func cell(_ text: String) -> String {
        if text.isEmpty { return "-" }
        return String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
    }
}
