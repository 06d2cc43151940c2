import PortalAWS
import PortalBase
import PortalModel

extension PortalCloud {
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
                                                                     ("Filter.1.Value.1", other.id.rawValue)])
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
            try cleanUp(instanceID: other.id.rawValue, requestID: requestID, fleetID: fleetID)
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
    func taggedVolumes(of document: PortalDocument) throws -> [VolumeID] {
        guard !document.spec.persistentVolumes.isEmpty else { return [] }
        let volumes = (try? describeVolumes(of: document.spec)) ?? []
        return volumes.filter { $0.tags[Tag.portalName] == document.name }.map(\.id)
    }
}
