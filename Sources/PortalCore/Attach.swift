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
                throw Failure("persistent_volumes[\(index)]: volume '\(wanted.volumeID)' is attached to \(holder(of: volume) ?? attachedTo), not to \(instance.id)",
                              hints: ["close the portal that holds it first ('portal list' shows them)"])
            }
            if attachedTo == nil { toAttach.append(wanted) }
        }
        if !toAttach.isEmpty {
            progress("attaching " + toAttach.map { "\($0.volumeID) at \($0.device)" }.joined(separator: ", "))
        }
        _ = try concurrently(toAttach) { volume in
            try ec2("AttachVolume", [("VolumeId", volume.volumeID), ("InstanceId", instance.id), ("Device", volume.device)])
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
            try ec2("CreateTags", [("ResourceId.1", volume.volumeID),
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
        if !ours.isEmpty { progress("detaching " + ours.map(\.volumeID).joined(separator: ", ")) }
        _ = try concurrently(ours) { volume in
            try ec2("DetachVolume", [("VolumeId", volume.volumeID), ("InstanceId", instance.id)])
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

    func removeAttachmentTags(_ volumeIDs: [String]) throws {
        guard !volumeIDs.isEmpty else { return }
        var pairs = volumeIDs.enumerated().map { ("ResourceId.\($0.offset + 1)", $0.element) }
        pairs += [("Tag.1.Key", Tag.mountPoint), ("Tag.2.Key", Tag.portalName)]
        _ = try ec2("DeleteTags", pairs)
    }

    /// Closes the portal: cancels its spot request or fleet, terminates its
    /// instance, waits until AWS confirms, and removes the volumes'
    /// attachment tags. Nothing is deleted: the volumes become available.
    /// Returns the instance that was closed, or nil when the portal was not open.
    public func close(_ document: PortalDocument, instance given: Instance?) throws -> Instance? {
        // One look for every live instance of the portal: the one given, and
        // any other that a crash may have left, all go.
        let live = try openInstances(portal: document.name)
        let instance = live.first { $0.id == given?.id } ?? live.first
        let extra = live.filter { $0.id != instance?.id }
        guard let instance else {
            try removeAttachmentTags(try taggedVolumes(of: document))
            return nil
        }
        for other in [instance] + extra {
            var requestID = other.spotRequestID
            if requestID == nil, other.lifecycle == "spot" {
                let answer = try ec2("DescribeSpotInstanceRequests", [("Filter.1.Name", "instance-id"),
                                                                     ("Filter.1.Value.1", other.id)])
                requestID = answer["spotInstanceRequestSet"]?[0]?["spotInstanceRequestId"]?.stringValue
            }
            var fleetID = other.spotFleetRequestID
            if fleetID == nil, other.spotRequestID == nil, other.lifecycle == "spot" {
                // On AWS a spot instance names its request or carries its
                // fleet's tag; without either, look for the fleet.
                fleetID = try activeFleet(portal: document.name)
            }
            progress("terminating \(other.id)" + (requestID.map { " and cancelling \($0)" } ?? "")
                + (fleetID.map { " and fleet \($0)" } ?? ""))
            try cleanUp(instanceID: other.id, requestID: requestID, fleetID: fleetID)
        }
        // The spec's volumes that were attached to what was terminated carry
        // this portal's tags; the instances' block devices name them.
        let held = Set(live.flatMap(\.volumeIDs))
        try removeAttachmentTags(document.spec.persistentVolumes.map(\.volumeID).filter(held.contains))
        return instance
    }

    /// The portal's active Spot Fleet, found by the tags `launch` gave it:
    /// for a fleet instance without the `aws:ec2spot:fleet-request-id` tag
    /// AWS puts on fleet instances (moto does not), so that closing cancels
    /// the fleet too.
    func activeFleet(portal name: String) throws -> String? {
        let arn = try callerARN()
        let fleets = try ec2("DescribeSpotFleetRequests", [])["spotFleetRequestConfigSet"]?.arrayValue ?? []
        return fleets.first { fleet in
            let tags = Tag.dictionary(fleet["tagSet"])
            return tags[Tag.portalName] == name && tags[Tag.createdBy] == arn
                && ["submitted", "active", "modifying"].contains(fleet["spotFleetRequestState"]?.stringValue ?? "")
        }?["spotFleetRequestId"]?.stringValue
    }

    /// The spec's volumes that still carry this portal's attachment tags.
    func taggedVolumes(of document: PortalDocument) throws -> [String] {
        guard !document.spec.persistentVolumes.isEmpty else { return [] }
        let volumes = (try? describeVolumes(of: document.spec)) ?? []
        return volumes.filter { $0.tags[Tag.portalName] == document.name }.map(\.id)
    }
}
