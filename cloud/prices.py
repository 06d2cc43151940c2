"""DescribeSpotPriceHistory as AWS serves it, for the local cloud's gateway.

moto answers DescribeSpotPriceHistory with one fixed price per type. AWS keeps a
history per instance type, zone and product description, changing over time;
this module makes one up, deterministic (the same type, zone and hour always
give the same price, on every host and every run), and answers with it the way
EC2 does:

- every zone of the region (moto's list of zones, with their zone ids);
- a price change every hour, at a minute of the hour that depends on the type
  and zone, for the last 90 days (AWS keeps 90 days);
- StartTime/EndTime: the changes inside the window plus the change in effect at
  StartTime ("the last price change before the start time, which is the
  effective price as of the start time", EC2 API reference); no StartTime means
  90 days ago, no EndTime means now;
- InstanceType.N, ProductDescription.N, AvailabilityZone and the filters
  availability-zone, instance-type, product-description, spot-price and
  timestamp (with * and ? wildcards);
- newest first; MaxResults (5 to 1000, default 1000) and an opaque NextToken
  that is refused (InvalidPaginationToken) when it belongs to another query.

Plugged into the gateway through its HANDLERS registry:
``HANDLERS["DescribeSpotPriceHistory"] = prices.handle``.
"""

import base64
import fnmatch
import hashlib
import heapq
import itertools
import json
import time
import uuid
from datetime import datetime, timezone
from xml.sax.saxutils import escape

NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
HISTORY_DAYS = 90
HOUR = 3600
MAX_RESULTS = 1000
MIN_RESULTS = 5

# Products served, with what each adds to the Linux price (licence).
PRODUCTS = {"Linux/UNIX": 1.0, "Red Hat Enterprise Linux": 1.25, "SUSE Linux": 1.2, "Windows": 1.8}

# A spot price level to vary around, per type ($/hour, of the order AWS charged
# in us-east-1 in 2026). Other types get a level derived from their name.
LEVELS = {
    "t3.micro": 0.0031, "t3.small": 0.0063, "t3.medium": 0.0125, "t3.large": 0.025,
    "m5.large": 0.035, "m5.xlarge": 0.07, "m6i.large": 0.036, "c5.large": 0.031,
    "c5.xlarge": 0.062, "r5.large": 0.04, "g4dn.xlarge": 0.16, "g5.xlarge": 0.36,
    "p3.2xlarge": 0.92, "p3.8xlarge": 3.67, "p4d.24xlarge": 9.83, "p5.48xlarge": 31.46,
}


def _unit(*parts):
    """A number in [0, 1) fixed by its parts."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def level(instance_type):
    if instance_type in LEVELS:
        return LEVELS[instance_type]
    return round(0.01 + 2.0 * _unit("level", instance_type) ** 3, 4)


def change_time(instance_type, zone, hour):
    """When, within `hour` (epoch hours), the price of the type in the zone changes."""
    return hour * HOUR + int(_unit("minute", instance_type, zone) * HOUR)


def price(instance_type, zone, product, hour):
    """The price set at the change of `hour`: the type's level, a zone factor
    (some zones are much cheaper than others, as on AWS), a slow wave over the
    days and a jitter of a few per cent per hour."""
    zone_factor = 0.55 + 0.9 * _unit("zone", instance_type, zone)
    day = hour // 24
    wave = 0.85 + 0.3 * _unit("day", instance_type, zone, day)
    jitter = 0.95 + 0.1 * _unit("hour", instance_type, zone, hour)
    value = level(instance_type) * zone_factor * wave * jitter * PRODUCTS[product]
    return max(round(value, 6), 0.0001)


def zones(region):
    """The region's zones as moto knows them: [(name, zone_id)]."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    return [(z.name, z.zone_id) for z in RegionsAndZonesBackend.zones.get(region, [])]


def instance_types():
    """Every instance type of the EC2 service model (botocore's InstanceType enum)."""
    global _TYPES
    if _TYPES is None:
        import gzip
        import os

        import botocore

        path = os.path.join(os.path.dirname(botocore.__file__), "data", "ec2", "2016-11-15", "service-2.json.gz")
        with gzip.open(path) as f:
            _TYPES = frozenset(json.load(f)["shapes"]["InstanceType"]["enum"])
    return _TYPES


_TYPES = None


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_time(text, name):
    """An AWS DateTime parameter: ISO 8601 (with or without fraction and zone) or epoch seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    for form in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z",
                 "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text, form)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    raise Refused("InvalidParameterValue", f"Value ({text}) for parameter {name} is invalid. Expected an ISO 8601 date.")


def iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def numbered(params, prefix):
    """Values of `Prefix.1`, `Prefix.2`, … in their order."""
    found = []
    for key, values in params.items():
        if key.startswith(prefix + "."):
            rest = key[len(prefix) + 1:]
            if rest.isdigit():
                found.append((int(rest), values[0]))
    return [v for _, v in sorted(found)]


def filters(params):
    """Filter.N.Name / Filter.N.Value.M as {name: [values]}."""
    result = {}
    for key, values in params.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "Filter" and parts[2] == "Name":
            result.setdefault(values[0], []).extend(numbered(params, f"Filter.{parts[1]}.Value"))
    known = {"availability-zone", "instance-type", "product-description", "spot-price", "timestamp"}
    for name in result:
        if name not in known:
            raise Refused("InvalidParameterValue", f"The filter '{name}' is invalid")
    return result


def matches(value, patterns):
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def history(params, region, now):
    """Every (timestamp, type, product, zone, zone_id, price) the query asks for, newest first (an iterator)."""
    types = numbered(params, "InstanceType")
    products = numbered(params, "ProductDescription") or list(PRODUCTS)
    zone_name = (params.get("AvailabilityZone") or [None])[0]
    zone_id = (params.get("AvailabilityZoneId") or [None])[0]
    chosen = filters(params)
    end = parse_time(params["EndTime"][0], "EndTime") if "EndTime" in params else now
    end = min(end, now)
    start = parse_time(params["StartTime"][0], "StartTime") if "StartTime" in params else now - HISTORY_DAYS * 86400
    start = max(start, now - HISTORY_DAYS * 86400)
    if start > end:
        raise Refused("InvalidParameterValue", "The start time must be before the end time")
    known = instance_types()
    for t in types + chosen.get("instance-type", []):
        if not any(c in t for c in "*?") and t not in known:
            raise Refused("InvalidParameterValue", f"Invalid value '{t}' for InstanceType.")
    if not types:
        # No type named: every type the filter allows, or a small default set
        # (AWS would list hundreds; nothing here needs them).
        patterns = chosen.get("instance-type")
        types = sorted(t for t in known if matches(t, patterns)) if patterns else sorted(LEVELS)
    streams = []
    for name, zid in zones(region):
        if zone_name and name != zone_name or zone_id and zid != zone_id:
            continue
        if "availability-zone" in chosen and not matches(name, chosen["availability-zone"]):
            continue
        for instance_type in types:
            if "instance-type" in chosen and not matches(instance_type, chosen["instance-type"]):
                continue
            for product in products:
                if product not in PRODUCTS:
                    continue
                if "product-description" in chosen and not matches(product, chosen["product-description"]):
                    continue
                streams.append(changes(instance_type, name, zid, product, start, end, chosen))
    # Newest first across every stream, lazily: a page costs what it shows.
    return heapq.merge(*streams, key=lambda r: (-r[0], r[3], r[1], r[2]))


def changes(instance_type, zone, zone_id, product, start, end, chosen):
    """The changes of one type, zone and product from `end` back to the one in
    effect at `start`, newest first."""
    hour = int(end // HOUR)
    if change_time(instance_type, zone, hour) > end:
        hour -= 1
    while True:
        at = change_time(instance_type, zone, hour)
        text = f"{price(instance_type, zone, product, hour):.6f}"
        if not ("spot-price" in chosen and not matches(text, chosen["spot-price"])
                or "timestamp" in chosen and not matches(iso(at), chosen["timestamp"])):
            yield (at, instance_type, product, zone, zone_id, text)
        if at <= start:
            return
        hour -= 1


def token_for(params, offset, now):
    """An opaque token: the next offset and the moment of the first page, tied
    to the rest of the query."""
    body = json.dumps({"o": offset, "q": query_key(params), "t": now}).encode()
    return base64.urlsafe_b64encode(body).decode()


def query_key(params):
    skip = {"NextToken", "MaxResults", "Action", "Version"}
    text = json.dumps(sorted((k, v) for k, v in params.items() if k not in skip))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_token(token, params):
    """(offset, moment of the first page) of a token this query gave."""
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, moment = int(body["o"]), float(body["t"])
        if body["q"] != query_key(params) or offset < 0:
            raise ValueError
        return offset, moment
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, base64.binascii.Error):
        raise Refused("InvalidPaginationToken", f"The pagination token '{token}' is invalid")


def error_xml(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID>"
            f"</Response>").encode()


def answer(params, region, now=None):
    """(status, xml) for one DescribeSpotPriceHistory request."""
    now = time.time() if now is None else now
    try:
        limit = MAX_RESULTS
        if "MaxResults" in params:
            try:
                limit = int(params["MaxResults"][0])
            except ValueError:
                raise Refused("InvalidParameterValue", f"Invalid value '{params['MaxResults'][0]}' for MaxResults")
            if not MIN_RESULTS <= limit <= MAX_RESULTS:
                raise Refused("InvalidParameterValue",
                              f"Value ( {limit} ) for parameter maxResults is invalid. "
                              f"Expecting a value between {MIN_RESULTS} and {MAX_RESULTS}.")
        offset = 0
        if params.get("NextToken", [""])[0]:
            # Pages are cut from the history as of the first page, so that paging
            # through it neither repeats nor skips a change made meanwhile.
            offset, now = read_token(params["NextToken"][0], params)
        rows = history(params, region, now)
    except Refused as refusal:
        return 400, error_xml(refusal.code, refusal.message)
    page = list(itertools.islice(rows, offset, offset + limit + 1))
    more = len(page) > limit
    page = page[:limit]
    items = "".join(
        f"<item><instanceType>{escape(t)}</instanceType><productDescription>{escape(p)}</productDescription>"
        f"<spotPrice>{v}</spotPrice><timestamp>{iso(at)}</timestamp>"
        f"<availabilityZone>{z}</availabilityZone><availabilityZoneId>{zid}</availabilityZoneId></item>"
        for at, t, p, z, zid, v in page)
    token = token_for(params, offset + limit, now) if more else ""
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeSpotPriceHistoryResponse xmlns="{NAMESPACE}">'
           f"<requestId>{uuid.uuid4()}</requestId><spotPriceHistorySet>{items}</spotPriceHistorySet>"
           f"<nextToken>{token}</nextToken></DescribeSpotPriceHistoryResponse>")
    return 200, xml.encode()


def handle(context, params, region):
    """The gateway's hook: (status, xml body), at the moment the gateway took the request."""
    now = getattr(context, "now", None)
    return answer(params, region, now() if callable(now) else now)
