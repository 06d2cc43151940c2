import PortalAWS
import PortalBase
import PortalModel

/// One point of the spot price history: from `timestamp` on, the type costs
/// `price` dollars an hour in the zone (DescribeSpotPriceHistory).
public struct SpotPrice: Equatable, Sendable {
    public var instanceType: String
    public var zone: String
    public var product: String
    public var price: Double
    public var timestamp: Date

    public init(instanceType: String, zone: String, product: String = SpotPrices.product, price: Double,
                timestamp: Date) {
        self.instanceType = instanceType
        self.zone = zone
        self.product = product
        self.price = price
        self.timestamp = timestamp
    }

    /// One item of `spotPriceHistorySet`; nil when a field is missing.
    public init?(ec2 item: JSON) {
        guard let type = item["instanceType"]?.stringValue, let zone = item["availabilityZone"]?.stringValue,
            let text = item["spotPrice"]?.stringValue ?? item["spotPrice"]?.intValue.map({ String($0) }),
            let price = Double(text), let stamp = item["timestamp"]?.stringValue,
            let timestamp = parseISO8601(stamp)
        else { return nil }
        self.init(instanceType: type, zone: zone, product: item["productDescription"]?.stringValue ?? "",
                  price: price, timestamp: timestamp)
    }

    public var json: JSON {
        ["instance_type": .string(instanceType), "zone": .string(zone), "product": .string(product),
         "price": .double(price), "timestamp": .string(iso8601(timestamp))]
    }
}

/// Spot prices of one region, read from DescribeSpotPriceHistory.
public struct SpotPrices: Sendable {
    /// Portal Gun's instances run Linux AMIs.
    public static let product = "Linux/UNIX"
    /// Another zone is "much cheaper" below this fraction of the price.
    public static let muchCheaper = 0.8

    public let client: AWSClient
    public init(client: AWSClient) { self.client = client }

    /// The history of the types (in one zone, when given) from `start` to
    /// `end`, every page, newest first: AWS includes the change in effect at
    /// `start`. StartTime = EndTime = now gives the latest price per zone.
    public func history(types: [String], zone: String? = nil, from start: Date, to end: Date = Date())
        throws -> [SpotPrice]
    {
        var parameters = QueryParameters([("ProductDescription.1", SpotPrices.product)])
        for (i, type) in types.enumerated() { parameters.pairs.append(("InstanceType.\(i + 1)", type)) }
        if let zone { parameters.pairs.append(("AvailabilityZone", zone)) }
        parameters.pairs += [("StartTime", iso8601(start)),
                             ("EndTime", iso8601(end))]
        var prices: [SpotPrice] = []
        var token: String?
        repeat {
            var page = parameters
            if let token { page["NextToken"] = token }
            let answer = try client.call("DescribeSpotPriceHistory", page)
            prices += (answer["spotPriceHistorySet"]?.arrayValue ?? []).compactMap(SpotPrice.init(ec2:))
            token = answer["nextToken"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return prices.sorted { $0.timestamp > $1.timestamp }
    }

    /// The latest price of each type in each zone of the region, by type
    /// then zone.
    public func latest(types: [String], now: Date = Date()) throws -> [SpotPrice] {
        SpotPrices.latestPerZone(try history(types: types, from: now, to: now))
    }

    /// The newest point of each (type, zone), sorted by type then zone.
    public static func latestPerZone(_ history: [SpotPrice]) -> [SpotPrice] {
        var newest: [String: SpotPrice] = [:]
        for point in history {
            let key = point.instanceType + " " + point.zone
            if let seen = newest[key], seen.timestamp >= point.timestamp { continue }
            newest[key] = point
        }
        return newest.values.sorted { ($0.instanceType, $0.zone) < ($1.instanceType, $1.zone) }
    }

    /// What `portal open` says before it requests: the price in the portal's
    /// zone, and a warning naming the cheapest zone when it is much cheaper.
    public static func advice(_ latest: [SpotPrice], type: String, zone: String)
        -> (note: String?, warning: String?)
    {
        let ofType = latest.filter { $0.instanceType == type }
        guard let here = ofType.first(where: { $0.zone == zone }) else {
            return ("no spot price known for \(type) in \(zone)", nil)
        }
        let note = "spot price of \(type) in \(zone): \(perHour(here.price))"
        guard let cheapest = ofType.min(by: { $0.price < $1.price }), cheapest.zone != zone,
            cheapest.price < here.price * muchCheaper
        else { return (note, nil) }
        let saving = Int(((1 - cheapest.price / here.price) * 100).rounded())
        return (note, "\(type) is \(saving)% cheaper in \(cheapest.zone) (\(perHour(cheapest.price))) than in "
            + "\(zone) (\(perHour(here.price))); volumes attach only in their own zone: "
            + "'portal volume move VOL -z \(cheapest.zone)' moves one there")
    }
}

/// The cost of an instance since its launch, estimated from the price history.
public struct CostEstimate: Equatable, Sendable {
    /// The spot price now, $/hour.
    public var pricePerHour: Double?
    /// Dollars since launch.
    public var total: Double
    public var hours: Double
    /// Price changes during the uptime.
    public var changes: Int

    /// Integrates the step function the history describes over [start, end]:
    /// each price holds from its timestamp until the next. The change in
    /// effect at `start` is the newest one at or before it.
    public static func integrate(_ history: [SpotPrice], from start: Date, to end: Date) -> CostEstimate {
        let points = history.sorted { $0.timestamp < $1.timestamp }
        var total = 0.0
        var changes = 0
        for (i, point) in points.enumerated() {
            let from = max(point.timestamp, start)
            let to = min(i + 1 < points.count ? points[i + 1].timestamp : end, end)
            guard to > from else { continue }
            if point.timestamp > start { changes += 1 }
            total += point.price * to.timeIntervalSince(from) / 3600
        }
        return CostEstimate(pricePerHour: points.last?.price, total: total,
                            hours: max(end.timeIntervalSince(start), 0) / 3600, changes: changes)
    }

    /// How it was computed, for people.
    public func basis(type: String, zone: String) -> String {
        "estimate: the spot price history of \(type) in \(zone) (\(SpotPrices.product)) integrated over "
            + "\(humanDuration(hours * 3600)) of uptime, \(changes) price change\(changes == 1 ? "" : "s"); "
            + "AWS bills the price of each second"
    }
}

extension PortalCloud {
    /// The instance's cost since launch (nil when its launch time is unknown).
    public func costSoFar(_ instance: Instance, now: Date = Date()) throws -> CostEstimate? {
        guard let launch = instance.launchTime.flatMap(parseISO8601) else { return nil }
        let history = try SpotPrices(client: client).history(types: [instance.type], zone: instance.zone,
                                                             from: launch, to: now)
        return CostEstimate.integrate(history, from: launch, to: now)
    }
}
