import PortalAWS
import PortalBase
import PortalModel

extension PortalCloud {
    /// Attaches every volume of the spec to the instance at its device (the
    /// calls at the same time), waits until all are attached, and tags each
    /// with `mount-point` and `portal-name`. Already attached to this instance
    /// is fine; attached to another is an error, before anything is changed.
    ///
    /// `justLaunched`: the instance was launched after its volumes were
    /// checked (`launch` does), so every one is to be attached and the first
    /// look is skipped. `tag`: false leaves the tags to `tagAttached`, for a
    /// caller that tags while it mounts.
    public func attach(_ document: PortalDocument, to instance: Instance, justLaunched: Bool = false,
                       tag: Bool = true, timeout: Double = 300) throws -> [Attachment]
    {
        let spec = document.spec
        let volumes = justLaunched ? [] : try describeVolumes(of: spec)
        var toAttach: [PortalSpec.PersistentVolume] = justLaunched ? spec.persistentVolumes : []
        for (index, volume) in volumes.enumerated() {
            let wanted = spec.persistentVolumes[index]
            let attachedTo = volume.instanceID
            if let attachedTo, attachedTo != instance.id {
                throw Failure("persistent_volumes[\(index)]: volume '\(wanted.volumeID)' is attached to \(holder(of: volume) ?? attachedTo.rawValue), not to \(instance.id)",
                              hints: ["close the portal that holds it first ('portal list' shows them)"])
            }
            if attachedTo == nil { toAttach.append(wanted) }
        }
        if !toAttach.isEmpty {
            progress("attaching " + toAttach.map { "\($0.volumeID) at \($0.device)" }.joined(separator: ", "))
        }
        _ = try concurrently(toAttach) { volume in
            try ec2("AttachVolume", [("VolumeId", volume.volumeID.rawValue), ("InstanceId", instance.id.rawValue),
                                     ("Device", volume.device)])
        }
        // Wait until EC2 says every one is attached.
        var options = LaunchOptions()
        options.timeout = timeout
        let started = Date()
        let states: [String] = try poll(started: started, options: options, what: "the volumes to attach") {
            let current = try describeVolumes(of: spec)
            let states = current.map { $0.attachments.first?.state ?? "detached" }
            return states.allSatisfy { $0 == "attached" } ? states : nil
        }
        if tag { try tagAttached(document) }
        return zip(spec.persistentVolumes, states).map { volume, state in
            Attachment(volumeID: volume.volumeID, instanceID: instance.id, device: volume.device,
                       mountPoint: volume.mountPoint, state: state)
        }
    }

    /// Tags each volume of the spec with its `mount-point` and `portal-name`
    /// (the calls at the same time).
    public func tagAttached(_ document: PortalDocument) throws {
        _ = try concurrently(document.spec.persistentVolumes) { volume in
            try ec2("CreateTags", [("ResourceId.1", volume.volumeID.rawValue),
                                   ("Tag.1.Key", Tag.mountPoint), ("Tag.1.Value", volume.mountPoint),
                                   ("Tag.2.Key", Tag.portalName), ("Tag.2.Value", document.name)])
        }
    }

    /// Detaches the spec's volumes from the instance, waits until they are
    /// available, and removes the tags attach wrote. Volumes attached
    /// elsewhere are left alone.
    public func detach(_ document: PortalDocument, from instance: Instance, timeout: Double = 300) throws {
        let spec = document.spec
        let volumes = try describeVolumes(of: spec)
        let ours = zip(spec.persistentVolumes, volumes).filter {
            $0.1.instanceID == instance.id
        }.map(\.0)
        if !ours.isEmpty { progress("detaching " + ours.map(\.volumeID.rawValue).joined(separator: ", ")) }
        _ = try concurrently(ours) { volume in
            try ec2("DetachVolume", [("VolumeId", volume.volumeID.rawValue), ("InstanceId", instance.id.rawValue)])
        }
        var options = LaunchOptions()
        options.timeout = timeout
        _ = try poll(started: Date(), options: options, what: "the volumes to detach") { () -> Bool? in
            let current = try describeVolumes(of: spec)
            let stillHere = current.contains { $0.instanceID == instance.id }
            return stillHere ? nil : true
        }
        try removeAttachmentTags(ours.map(\.volumeID))
    }

    func removeAttachmentTags(_ volumeIDs: [VolumeID]) throws {
        guard !volumeIDs.isEmpty else { return }
        var pairs = volumeIDs.enumerated().map { ("ResourceId.\($0.offset + 1)", $0.element.rawValue) }
        pairs += [("Tag.1.Key", Tag.mountPoint), ("Tag.2.Key", Tag.portalName)]
        _ = try ec2("DeleteTags", pairs)
    }
}
