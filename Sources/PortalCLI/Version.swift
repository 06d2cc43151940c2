public enum PortalVersion {
    public static let current = "0.1.0"
}
