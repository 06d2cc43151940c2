import PortalBase
import PortalCore
import PortalModel

/// The pipeline, composed in one place: each stage takes the portal document
/// and gives it back with its own member set. The plumbing executables run
/// one stage each (portal-find, portal-spot-request, portal-volume-attach,
/// portal-spot-cancel; portal-mount runs `mount`, in RemoteCommands), and
/// `portal open`, `portal close` and `portal watch` run the same stages in
/// one process, on the same typed document.
public enum Stages {
    /// portal-find: `"instance"`, the portal's live instance or null.
    public static func find(_ document: PortalDocument, cloud: PortalCloud) throws -> PortalDocument {
        var document = document
        document.instance = try cloud.findInstance(portal: document.name)
        return document
    }

    /// portal-spot-request: launches the portal's instance and waits until it
    /// runs; `"instance"`. `knownClosed`: the caller just found the portal not
    /// open (no second look); `checks`: the launch's checks, already started.
    public static func spotRequest(_ document: PortalDocument, cloud: PortalCloud, options: LaunchOptions,
                                   knownClosed: Bool = false, checks: Background<String?>? = nil) throws -> PortalDocument {
        var document = document
        document.instance = try cloud.launch(document, options: options, knownClosed: knownClosed, checks: checks)
        return document
    }

    /// portal-volume-attach: attaches the spec's volumes to the document's
    /// instance; `"attachments"`. `justLaunched` and `tag` as
    /// `PortalCloud.attach` takes them.
    public static func volumeAttach(_ document: PortalDocument, cloud: PortalCloud, timeout: Double = 300,
                                    justLaunched: Bool = false, tag: Bool = true) throws -> PortalDocument {
        var document = document
        document.attachments = try cloud.attach(document, to: document.requireInstance(), justLaunched: justLaunched,
                                                tag: tag, timeout: timeout)
        return document
    }

    /// portal-volume-attach --detach: `"attachments"` becomes empty.
    public static func volumeDetach(_ document: PortalDocument, cloud: PortalCloud, timeout: Double = 300) throws -> PortalDocument {
        var document = document
        try cloud.detach(document, from: document.requireInstance(), timeout: timeout)
        document.attachments = []
        return document
    }

    /// portal-spot-cancel: closes the portal (its instance as the document
    /// names it, else as found by its tags); `"closed"`, the instance
    /// terminated, and what lived on it gone.
    public static func spotCancel(_ document: PortalDocument, cloud: PortalCloud) throws -> PortalDocument {
        var document = document
        let closed = try cloud.close(document, instance: document.givenInstance())
        document.closed = Closing(instanceID: closed?.id)
        if var instance = closed {
            instance.state = "terminated"
            document.instance = instance
        }
        document.attachments = nil
        document.mounts = nil
        document.provisioned = nil
        return document
    }
}
