/// The keys of the portal document that more than one file reads or writes,
/// spelled here only: the stages' members, and `"volume_id"`, which names a
/// volume in the spec, in `"attachments"`, in `"mounts"` and in listings.
public enum DocumentKey {
    /// The portal's instance (portal-spot-request, portal-find), or null.
    public static let instance = "instance"
    /// The volumes attached to it (portal-volume-attach).
    public static let attachments = "attachments"
    /// The volumes mounted on it (portal-mount).
    public static let mounts = "mounts"
    /// What provisioning installed and ran (portal-mount).
    public static let provisioned = "provisioned"
    /// How the portal was closed (portal-spot-cancel).
    public static let closed = "closed"
    /// The members only this type writes; every other member is passed through.
    public static let stages = [instance, attachments, mounts, provisioned, closed]

    public static let volumeID = "volume_id"
}
