// Portals: the operations on them against AWS (find, launch, attach, close,
// volumes, prices). What they operate on (the spec, the portal document) is
// PortalModel.

/// A place for progress messages: stderr for people, nothing for tests.
public struct ProgressLog: Sendable {
    public var write: @Sendable (String) -> Void
    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }
    public static let silent = ProgressLog { _ in }
    public func callAsFunction(_ line: String) { write(line) }
}
