import PortalBase
import PortalCore

/// The remote stages of `portal open`, after the volumes are attached.
public enum RemoteStages {
    public static func mountAndProvision(_ document: PortalDocument, progress: ProgressLog) throws -> PortalDocument {
        // Wired to PortalSSH's mount and provisioning once they land.
        document
    }
}
