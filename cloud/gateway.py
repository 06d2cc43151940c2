#!/usr/bin/env python3
"""The twin's gateway: the endpoint AWS_ENDPOINT_URL points at, in front of moto.

Every EC2 and STS request is checked against botocore's service model first
(strict.py); a refused request never reaches moto. Then fault rules (faults.json in the
state dir, written by `bin/local-cloud fault`), then the per-action behaviour in
HANDLERS, then moto. HANDLERS maps an action to
    handle(ctx, params: dict[str, list[str]], region: str) -> (status, xml bytes) | None
(None: forward the request to moto unchanged); `ctx` is the request's Context below.

What the behaviours add to moto (moto does every state change at once):
- spot requests go pending-evaluation -> pending-fulfillment -> fulfilled over the
  profile's delays (or stay at capacity-not-available under a fault rule; their
  instance is then terminated at once, as none was ever launched);
- RunInstances with InstanceMarketOptions: AWS creates a spot request along; the
  gateway makes one up (sir-...) that DescribeSpotInstanceRequests shows (by id or by
  the instance-id filter), fulfilled at once, as RunInstances only returns when it is;
- instances are `pending` until the timeline's running_at has passed and, when the
  machine manager runs, its machine.json exists; they carry instanceLifecycle=spot
  and spotInstanceRequestId; a new instance id is unknown to DescribeInstances,
  CreateTags and AttachVolume for the profile's consistency delay
  (InvalidInstanceID.NotFound), as AWS documents;
- spot fleets: instances tagged aws:ec2spot:fleet-request-id, fleet state
  submitted -> active with activity status pending_fulfillment -> fulfilled;
- volumes `attaching` -> `attached`, `detaching` before available; AttachVolume to a
  pending instance is IncorrectState; ModifyVolume modifying -> optimizing -> completed;
- terminated instances are `shutting-down` for the profile's delay, then `terminated`;
- DescribeSpotPriceHistory: prices.py's made-up, deterministic history;
- GetConsoleOutput: cloud-init's host key blocks from machine.json once the machine is
  ready (empty before); without a machine manager, moto's text;
- spot interruptions: instances/<id>/interrupt.json (bin/local-cloud interrupt) marks
  the request marked-for-termination; at terminate_at the gateway's ticker terminates
  the instance in moto.
- a shutdown from inside a machine (instances/<id>/shutdown.json, written by the machine
  manager at its poweroff): the ticker terminates the instance, or stops it, as its
  InstanceInitiatedShutdownBehavior says (moto's attribute; a Spot Instance of a one-time
  request always terminates, as on AWS); stateReason Client.InstanceInitiatedShutdown,
  `stopping` for the profile's shutting-down delay before `stopped`;
- a spot request whose instance was terminated by its user (TerminateInstances or a
  shutdown from inside) is closed with status instance-terminated-by-user (a persistent
  one's stopped instance: disabled, instance-stopped-by-user).

    gateway.py --state-dir DIR --moto-port PORT [--profile instant|aws]
               [--time-scale X] [--seed N] [--port-file FILE]
"""

import argparse
import base64
import copy
import http.client
import http.server
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prices  # noqa: E402
from common import QuietHandler, log, read_json, write_json  # noqa: E402
import profiles  # noqa: E402
import snapshots  # noqa: E402
import strict  # noqa: E402

HOST = "127.0.0.1"
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
LIVE = ("pending", "running")

# HTTP status AWS answers with for these error codes (others: 400)
STATUS = {"InsufficientInstanceCapacity": 500, "InsufficientCapacity": 500,
          "InternalError": 500, "InternalFailure": 500, "RequestLimitExceeded": 503,
          "Unavailable": 503, "ServiceUnavailable": 503, "Throttling": 400}
MESSAGES = {
    "InsufficientInstanceCapacity": "We currently do not have sufficient capacity in the "
                                    "Availability Zone you requested.",
    "RequestLimitExceeded": "Request limit exceeded.",
    "InternalError": "An internal error has occurred.",
    "Unavailable": "The server is overloaded and can't handle the request.",
}
SPOT_MESSAGES = {
    "pending-evaluation": "Your Spot request has been submitted for review, and is "
                          "pending evaluation.",
    "pending-fulfillment": "Your Spot request is pending fulfillment.",
    "fulfilled": "Your spot request is fulfilled.",
    "capacity-not-available": "There is no capacity available for the instance type "
                              "you requested.",
    "marked-for-termination": "Your Spot Instance is marked for termination.",
    "instance-terminated-no-capacity": "Your Spot Instance was terminated because there "
                                       "is no spare capacity available.",
    "request-canceled-and-instance-running": "Your Spot request is canceled, but your "
                                             "instance is still running.",
    "canceled-before-fulfillment": "Your Spot request was canceled before it was fulfilled.",
    "instance-terminated-by-user": "Spot Instance terminated by user.",
    "instance-stopped-by-user": "Spot Instance stopped by user.",
}
INITIATED = ("Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown: Instance initiated shutdown")


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


# ---------------------------------------------------------------- XML helpers

def q(name):
    return name  # parse() strips the namespace; dump() puts the root's back


def child(elem, name):
    return elem.find(q(name))


def text(elem, name, default=None):
    c = elem.find(q(name))
    return c.text if c is not None and c.text is not None else default


def set_text(elem, name, value):
    c = elem.find(q(name))
    if c is None:
        c = ET.SubElement(elem, q(name))
    c.text = value
    return c


def remove(elem, name):
    c = elem.find(q(name))
    if c is not None:
        elem.remove(c)


def items(elem, set_name):
    s = elem.find(q(set_name))
    return [] if s is None else s.findall(q("item"))


def parse(body):
    """moto's XML with tags by local name (its namespaces vary: with and without the
    trailing slash); the root keeps its namespace as a plain xmlns attribute."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else None
    for elem in root.iter():
        if elem.tag.startswith("{"):
            elem.tag = elem.tag.split("}", 1)[1]
    if ns:
        root.set("xmlns", ns)
    return root


def element(xml):
    return parse(xml.encode())


def dump(root):
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def param_list(params, prefix):
    """Values of a flattened list parameter Prefix.1, Prefix.2, ..."""
    out, i = [], 1
    while f"{prefix}.{i}" in params:
        out.append(params[f"{prefix}.{i}"][-1])
        i += 1
    return out


def filters(params):
    """{filter name: [values]} of Filter.N.Name / Filter.N.Value.M."""
    out, i = {}, 1
    while f"Filter.{i}.Name" in params:
        out[params[f"Filter.{i}.Name"][-1]] = param_list(params, f"Filter.{i}.Value")
        i += 1
    return out


# ---------------------------------------------------------------- moto connection

class Moto:
    """Keep-alive connections to moto, one per thread."""

    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def request(self, body, headers, path="/", method="POST"):
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                return r.status, r.getheader("Content-Type") or "text/xml", data
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def call(self, action, params, region="us-east-1", service="ec2"):
        """An internal call of the twin's own (not checked, not rewritten)."""
        pairs = [("Action", action),
                 ("Version", "2016-11-15" if service == "ec2" else "2011-06-15")]
        pairs += list(params.items()) if isinstance(params, dict) else list(params)
        body = urllib.parse.urlencode(pairs).encode()
        day = time.strftime("%Y%m%d", time.gmtime())
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                   "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{day}/{region}/"
                                    f"{service}/aws4_request, SignedHeaders=host, Signature=0"}
        status, _, data = self.request(body, headers)
        return status, data


# ---------------------------------------------------------------- the twin's state

class Twin:
    """What the gateway knows beyond moto: when things were created and when each
    state change happens."""

    def __init__(self, state_dir, moto, profile):
        self.dir, self.moto, self.profile = state_dir, moto, profile
        self.lock = threading.RLock()
        self.instances = {}   # id -> {"visible_at", "running_at", "spot", "fleet", "lifecycle"}
        self.spot = {}        # sir -> {"evaluated_at", "fulfilled_at", "instance", "made_up", "capacity"}
        self.fleets = {}      # sfr -> {"fulfilled_at", "evaluated_at"}
        self.attaching = {}   # vol -> attached_at
        self.detaching = {}   # vol -> {"until", "instance", "device", "time"}
        self.modifying = {}   # vol -> {"start", "optimizing_at", "completed_at"}
        self.interrupted = set()
        self.ended = {}       # id -> "terminated" | "stopped": by its user or from inside
        self.initiated = set()  # ids shut down from inside (shutdown.json)
        self.calls = {}
        self.faults_mtime, self.faults, self.fault_used = None, [], {}

    def machines(self):
        run = read_json(os.path.join(self.dir, "run.json")) or {}
        return bool(run.get("machines"))

    def idir(self, iid, *names):
        return os.path.join(self.dir, "instances", iid, *names)

    def machine(self, iid):
        m = read_json(self.idir(iid, "machine.json"))
        return m if isinstance(m, dict) and m.get("state") != "gone" else None

    def launch(self, iid, at, spot=None, fleet=None):
        """Record an instance whose launch happens at `at` (now, or a spot fulfilment)."""
        p = self.profile
        rec = {"launched_at": at, "running_at": at + p.delay("pending"),
               "visible_at": at + p.delay("consistency"), "spot": spot, "fleet": fleet}
        with self.lock:
            self.instances[iid] = rec
        write_json(self.idir(iid, "timeline.json"),
                   {"launched_at": rec["launched_at"], "running_at": rec["running_at"],
                    "ssh_delay": p.delay("ssh")})
        return rec

    def record(self, iid):
        with self.lock:
            rec = self.instances.get(iid)
        if rec is None:  # not launched through this gateway (or before a restart)
            t = read_json(self.idir(iid, "timeline.json")) or {}
            rec = {"launched_at": t.get("launched_at", 0), "running_at": t.get("running_at", 0),
                   "visible_at": 0, "spot": None, "fleet": None}
        return rec

    def shutting_down(self, ids, now):
        """Terminated in moto at once; `shutting-down` for the profile's delay here."""
        with self.lock:
            for iid in ids:
                rec = self.instances.setdefault(iid, self.record(iid))
                rec.setdefault("terminated_at", now + self.profile.delay("shutting_down"))

    def stopping(self, iid, now):
        """Stopped in moto at once; `stopping` for the profile's shutting-down delay here."""
        with self.lock:
            rec = self.instances.setdefault(iid, self.record(iid))
            rec["stopped_at"] = now + self.profile.delay("shutting_down")

    def state(self, iid, now):
        """'pending' or 'running' as the twin shows a live instance."""
        rec = self.record(iid)
        if now < rec["running_at"]:
            return "pending"
        if self.machines() and self.machine(iid) is None:
            return "pending"
        return "running"

    def spot_status(self, sir, now):
        """(state, status code) the twin shows, or None to keep moto's."""
        with self.lock:
            s = self.spot.get(sir)
        if s is None:
            return None
        iid = s.get("instance")
        if iid and os.path.exists(self.idir(iid, "interrupt.json")):
            if iid in self.interrupted:
                return "closed", "instance-terminated-no-capacity"
            return "active", "marked-for-termination"
        if s.get("cancelled"):
            return None
        ended = self.ended.get(iid) if iid else None
        if ended == "terminated":
            return "closed", "instance-terminated-by-user"
        if ended == "stopped":
            return "disabled", "instance-stopped-by-user"
        if s.get("capacity"):
            return "open", "capacity-not-available"
        if now < s["evaluated_at"]:
            return "open", "pending-evaluation"
        if now < s["fulfilled_at"]:
            return "open", "pending-fulfillment"
        return "active", "fulfilled"

    # -- faults

    def fault(self, action, params=None):
        """The fault rule that applies to this call of action, or None. Counts the call.
        A rule's `times` counts the calls it answered since it was added (adding another
        rule leaves the count as it is); a rule with `where` ({parameter: value}) applies
        only to calls with those parameters (a capacity shortage of one instance type).
        A call is an HTTP request: an SDK's retry of a 5xx answer is another call, so
        `times: 1` of InsufficientInstanceCapacity (500) is absorbed by its first retry."""
        path = os.path.join(self.dir, "faults.json")
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = None
        with self.lock:
            if mtime != self.faults_mtime:
                doc = read_json(path) if mtime else None
                self.faults = (doc or {}).get("rules", [])
                self.faults_mtime = mtime
                if mtime is None:
                    self.fault_used = {}
            n = self.calls[action] = self.calls.get(action, 0) + 1
            for i, rule in enumerate(self.faults):
                if rule.get("action") not in (action, "*"):
                    continue
                if rule.get("call") is not None and rule["call"] != n:
                    continue
                if any((params or {}).get(k, [None])[-1] != v for k, v in (rule.get("where") or {}).items()):
                    continue
                key = json.dumps([i, rule], sort_keys=True)
                used = self.fault_used.get(key, 0)
                if rule.get("times") is not None and used >= rule["times"]:
                    continue
                self.fault_used[key] = used + 1
                return rule
        return None


class Context:
    """One request, as the handlers see it."""

    def __init__(self, twin, params, region, body, headers, fault=None):
        self.twin, self.params, self.region = twin, params, region
        self.fault = fault  # the fault rule that matched this call, if any
        self.body, self.headers = body, headers
        self.profile = twin.profile
        self.state_dir = twin.dir
        self.now = time.time()

    def forward(self, params=None):
        """Send the request (or these params instead) to moto: (status, body)."""
        body = self.body if params is None else urllib.parse.urlencode(
            [(k, v) for k, vs in params.items() for v in vs]).encode()
        status, _, data = self.twin.moto.request(body, self.headers)
        return status, data

    def error(self, code, message, status=400):
        return status, strict.error_body("ec2", code, message)


# ---------------------------------------------------------------- behaviours

def forward_xml(ctx, params=None):
    """moto's answer: (status, body, its XML root, or None when not a 200 with XML)."""
    status, body = ctx.forward(params)
    return status, body, (parse(body) if status == 200 else None)


def run_instances(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    spot = (params.get("InstanceMarketOptions.MarketType") or [""])[0] == "spot"
    for item in items(root, "instancesSet"):
        iid = text(item, "instanceId")
        sir = None
        if spot:
            sir = "sir-" + uuid.uuid4().hex[:8]
            with ctx.twin.lock:
                ctx.twin.spot[sir] = {"evaluated_at": ctx.now, "fulfilled_at": ctx.now,
                                      "instance": iid, "made_up": True, "created": ctx.now,
                                      "type": (params.get("InstanceMarketOptions.SpotOptions."
                                                          "SpotInstanceType") or ["one-time"])[0],
                                      "zone": text(child(item, "placement"), "availabilityZone")
                                      if child(item, "placement") is not None else None}
            set_text(item, "instanceLifecycle", "spot")
            set_text(item, "spotInstanceRequestId", sir)
        ctx.twin.launch(iid, ctx.now, spot=sir)
        show_instance(ctx.twin, item, ctx.now, launching=True)
    return 200, dump(root)


def spot_timing(ctx):
    """(evaluated_at, fulfilled_at) of a spot request or fleet made now: the profile's
    evaluation delay, then its fulfilment delay."""
    evaluated = ctx.now + ctx.profile.delay("spot_evaluation")
    return evaluated, evaluated + ctx.profile.delay("spot_fulfilment")


def request_spot_instances(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    twin = ctx.twin
    ids = [text(i, "spotInstanceRequestId") for i in items(root, "spotInstanceRequestSet")]
    # moto launched the instances already: learn which
    found = {}
    st, data = twin.moto.call("DescribeSpotInstanceRequests",
                              {f"SpotInstanceRequestId.{n + 1}": s for n, s in enumerate(ids)},
                              region)
    for item in items(parse(data), "spotInstanceRequestSet") if st == 200 else []:
        found[text(item, "spotInstanceRequestId")] = text(item, "instanceId")
    capacity = (ctx.fault or {}).get("spot_status") == "capacity-not-available"
    for sir in ids:
        evaluated, fulfilled = spot_timing(ctx)
        iid = found.get(sir)
        with twin.lock:
            twin.spot[sir] = {"evaluated_at": evaluated, "fulfilled_at": fulfilled,
                              "instance": None if capacity else iid,
                              "capacity": bool(capacity), "created": ctx.now}
        if iid and capacity:
            # no capacity: AWS never launches it
            twin.moto.call("TerminateInstances", {"InstanceId.1": iid}, region)
        elif iid:
            twin.launch(iid, fulfilled, spot=sir)
    show_spot_requests(twin, root, time.time())
    return 200, dump(root)


def show_spot_requests(twin, root, now):
    for item in items(root, "spotInstanceRequestSet"):
        shown = twin.spot_status(text(item, "spotInstanceRequestId"), now)
        if shown is None:
            continue
        state, code = shown
        set_text(item, "state", state)
        st = child(item, "status")
        if st is None:
            st = ET.SubElement(item, q("status"))
        set_text(st, "code", code)
        set_text(st, "message", SPOT_MESSAGES.get(code, code))
        set_text(st, "updateTime", iso(now))
        if state == "open":
            remove(item, "instanceId")


def made_up_request(sir, s, now, twin):
    item = ET.Element(q("item"))
    set_text(item, "spotInstanceRequestId", sir)
    set_text(item, "instanceId", s["instance"])
    set_text(item, "type", s.get("type", "one-time"))
    set_text(item, "productDescription", "Linux/UNIX")
    set_text(item, "createTime", iso(s["created"]))
    set_text(item, "instanceInterruptionBehavior", "terminate")
    if s.get("zone"):
        set_text(item, "launchedAvailabilityZone", s["zone"])
    if s.get("cancelled"):
        state, code = "cancelled", "request-canceled-and-instance-running"
    else:
        state, code = twin.spot_status(sir, now)
    st = ET.SubElement(item, q("status"))
    set_text(st, "code", code)
    set_text(st, "message", SPOT_MESSAGES.get(code, code))
    set_text(st, "updateTime", iso(now))
    set_text(item, "state", state)
    return item


def describe_spot_instance_requests(ctx, params, region):
    twin = ctx.twin
    with twin.lock:
        made_up = {k: v for k, v in twin.spot.items() if v.get("made_up")}
    asked = param_list(params, "SpotInstanceRequestId")
    flt = filters(params)
    mine = [s for s in asked if s in made_up]
    rest = dict(params)
    if mine:
        for k in [k for k in rest if k.startswith("SpotInstanceRequestId.")]:
            del rest[k]
        for n, s in enumerate([s for s in asked if s not in made_up]):
            rest[f"SpotInstanceRequestId.{n + 1}"] = [s]
    if mine and len(mine) == len(asked):
        root = element(f'<DescribeSpotInstanceRequestsResponse xmlns="{NS}"><requestId>'
                             f"{uuid.uuid4()}</requestId><spotInstanceRequestSet/>"
                             "</DescribeSpotInstanceRequestsResponse>")
    else:
        status, body, root = forward_xml(ctx, rest if mine else None)
        if root is None:
            return status, body
    now = time.time()
    show_spot_requests(twin, root, now)
    if not asked:
        wanted_instances = flt.pop("instance-id", None)
        wanted_ids = flt.pop("spot-instance-request-id", None)
        mine = [] if flt else [s for s, v in made_up.items()
                               if (wanted_instances is None or v["instance"] in wanted_instances)
                               and (wanted_ids is None or s in wanted_ids)]
    the_set = child(root, "spotInstanceRequestSet")
    if the_set is None:
        the_set = ET.SubElement(root, q("spotInstanceRequestSet"))
    for sir in mine:
        the_set.append(made_up_request(sir, made_up[sir], now, twin))
    return 200, dump(root)


def cancel_spot_instance_requests(ctx, params, region):
    twin = ctx.twin
    asked = param_list(params, "SpotInstanceRequestId")
    with twin.lock:
        made_up = [s for s in asked if twin.spot.get(s, {}).get("made_up")]
        for s in asked:
            if s in twin.spot:
                twin.spot[s]["cancelled"] = True
    rest = {k: v for k, v in params.items() if not k.startswith("SpotInstanceRequestId.")}
    others = [s for s in asked if s not in made_up]
    for n, s in enumerate(others):
        rest[f"SpotInstanceRequestId.{n + 1}"] = [s]
    if others:
        status, body, root = forward_xml(ctx, rest)
        if root is None:
            return status, body
    else:
        root = element(f'<CancelSpotInstanceRequestsResponse xmlns="{NS}"><requestId>'
                             f"{uuid.uuid4()}</requestId><spotInstanceRequestSet/>"
                             "</CancelSpotInstanceRequestsResponse>")
    the_set = child(root, "spotInstanceRequestSet")
    for s in made_up:
        item = ET.SubElement(the_set, q("item"))
        set_text(item, "spotInstanceRequestId", s)
        set_text(item, "state", "cancelled")
    return 200, dump(root)


def show_instance(twin, item, now, launching=False):
    """Rewrite one instance item of moto's as the twin shows it (RunInstances' answer:
    always pending, as on AWS)."""
    iid = text(item, "instanceId")
    rec = twin.record(iid)
    st = child(item, "instanceState")
    name = text(st, "name") if st is not None else None
    if name == "terminated" and now < rec.get("terminated_at", 0):
        set_text(st, "name", "shutting-down")
        set_text(st, "code", "32")
    if name == "stopped" and now < rec.get("stopped_at", 0):
        set_text(st, "name", "stopping")
        set_text(st, "code", "64")
    if iid in twin.initiated and name in ("terminated", "stopped"):
        reason = child(item, "stateReason")
        if reason is None:
            reason = ET.SubElement(item, q("stateReason"))
        set_text(reason, "code", INITIATED[0])
        set_text(reason, "message", INITIATED[1])
    if name in LIVE:
        shown = "pending" if launching else twin.state(iid, now)
        set_text(st, "name", shown)
        set_text(st, "code", "0" if shown == "pending" else "16")
        machine = twin.machine(iid)
        if machine and machine.get("address"):
            set_text(item, "privateIpAddress", machine["address"])
            if shown == "running":
                set_text(item, "ipAddress", machine["address"])
            # moto's names (ec2-54-214-….compute-1.amazonaws.com) resolve nowhere; an
            # instance without DNS names is reached at its address, as in a VPC whose
            # DNS hostnames are off
            set_text(item, "dnsName", "")
            set_text(item, "privateDnsName", "")
        if shown == "pending":
            remove(item, "ipAddress")
    if rec.get("spot"):
        set_text(item, "instanceLifecycle", "spot")
        set_text(item, "spotInstanceRequestId", rec["spot"])
    return name


def not_yet_known(ctx, ids):
    """AWS's answer to a call naming instances too new to be known everywhere yet
    (eventual consistency), or None."""
    unseen = [i for i in ids if i.startswith("i-") and ctx.twin.record(i)["visible_at"] > ctx.now]
    if not unseen:
        return None
    return ctx.error("InvalidInstanceID.NotFound",
                     f"The instance ID '{unseen[0]}' does not exist" if len(unseen) == 1
                     else f"The instance IDs '{', '.join(unseen)}' do not exist")


def create_tags(ctx, params, region):
    return not_yet_known(ctx, param_list(params, "ResourceId"))


def describe_instances(ctx, params, region):
    twin = ctx.twin
    now = ctx.now
    refused = not_yet_known(ctx, param_list(params, "InstanceId"))
    if refused:
        return refused
    flt = filters(params)
    wanted_states = flt.get("instance-state-name")
    rest = params
    if wanted_states is not None and set(wanted_states) & set(LIVE + ("shutting-down",)):
        # the twin decides pending or running, shutting-down or terminated: ask moto for
        # all of them, filter what it shows
        rest = dict(params)
        for i in range(1, len(flt) + 1):
            if rest[f"Filter.{i}.Name"][-1] == "instance-state-name":
                vals = sorted(set(wanted_states) | set(LIVE) | {"shutting-down", "terminated"})
                for k in [k for k in rest if k.startswith(f"Filter.{i}.Value.")]:
                    del rest[k]
                for n, v in enumerate(vals):
                    rest[f"Filter.{i}.Value.{n + 1}"] = [v]
    status, body, root = forward_xml(ctx, rest if rest is not params else None)
    if root is None:
        return status, body
    rset = child(root, "reservationSet")
    for res in list(rset) if rset is not None else []:
        iset = child(res, "instancesSet")
        for item in list(iset) if iset is not None else []:
            iid = text(item, "instanceId")
            if twin.record(iid)["visible_at"] > now:
                iset.remove(item)
                continue
            show_instance(twin, item, now)
            shown = text(child(item, "instanceState"), "name")
            if wanted_states is not None and shown not in wanted_states:
                iset.remove(item)
        if iset is not None and len(iset) == 0:
            rset.remove(res)
    return 200, dump(root)


def terminate_instances(ctx, params, region):
    """moto 5.2.1 fails (HTTP 500, AttributeError) to terminate an instance of a fleet it
    has already cancelled; AWS answers as for any instance already terminated."""
    ids = param_list(params, "InstanceId")
    status, body = ctx.forward()
    if status == 200:
        ctx.twin.shutting_down(ids, ctx.now)
        with ctx.twin.lock:
            for iid in ids:
                ctx.twin.ended.setdefault(iid, "terminated")
    if status < 500:
        return status, body
    st, data = ctx.twin.moto.call("DescribeInstances",
                                  {f"InstanceId.{n + 1}": i for n, i in enumerate(ids)}, region)
    root = parse(data) if st == 200 else None
    states = {}
    for res in items(root, "reservationSet") if root is not None else []:
        for item in items(res, "instancesSet"):
            states[text(item, "instanceId")] = child(item, "instanceState")
    if set(states) != set(ids) or any(text(s, "name") not in ("shutting-down", "terminated")
                                      for s in states.values()):
        return status, body
    answer = element(f'<TerminateInstancesResponse xmlns="{NS}"><requestId>{uuid.uuid4()}'
                     "</requestId><instancesSet/></TerminateInstancesResponse>")
    the_set = child(answer, "instancesSet")
    for iid in ids:
        item = ET.SubElement(the_set, "item")
        set_text(item, "instanceId", iid)
        for name in ("currentState", "previousState"):
            s = ET.SubElement(item, name)
            set_text(s, "code", text(states[iid], "code"))
            set_text(s, "name", text(states[iid], "name"))
    ctx.twin.shutting_down(ids, ctx.now)
    return 200, dump(answer)


def request_spot_fleet(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    twin = ctx.twin
    fid = text(root, "spotFleetRequestId")
    evaluated, fulfilled = spot_timing(ctx)
    with twin.lock:
        twin.fleets[fid] = {"evaluated_at": evaluated, "fulfilled_at": fulfilled}
    st, data = twin.moto.call("DescribeSpotFleetInstances", {"SpotFleetRequestId": fid}, region)
    spot_ids = {text(i, "instanceId"): text(i, "spotInstanceRequestId")
                for i in (items(parse(data), "activeInstanceSet") if st == 200 else [])}
    for iid in spot_ids:
        twin.moto.call("CreateTags", {"ResourceId.1": iid, "Tag.1.Key": "aws:ec2spot:fleet-request-id",
                                      "Tag.1.Value": fid}, region)
        sir = spot_ids.get(iid)
        if sir:
            with twin.lock:
                twin.spot[sir] = {"evaluated_at": evaluated, "fulfilled_at": fulfilled,
                                  "instance": iid, "created": ctx.now}
        twin.launch(iid, fulfilled, spot=sir, fleet=fid)
    return 200, body


def describe_spot_fleet_instances(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    fid = text(root, "spotFleetRequestId") or (params.get("SpotFleetRequestId") or [""])[0]
    with ctx.twin.lock:
        fleet = ctx.twin.fleets.get(fid)
    if fleet and ctx.now < fleet["fulfilled_at"]:
        s = child(root, "activeInstanceSet")
        for item in list(s) if s is not None else []:
            s.remove(item)
    return 200, dump(root)


def describe_spot_fleet_requests(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    the_set = child(root, "spotFleetRequestConfigSet")
    if the_set is None:
        the_set = ET.SubElement(root, "spotFleetRequestConfigSet")
    shown = {text(i, "spotFleetRequestId") for i in the_set}
    asked = param_list(params, "SpotFleetRequestId")
    with ctx.twin.lock:
        gone = [(f, v["item"]) for f, v in ctx.twin.fleets.items()
                if v.get("cancelled") and f not in shown and (not asked or f in asked)]
    for fid, item in gone:
        the_set.append(copy.deepcopy(item))
    for item in items(root, "spotFleetRequestConfigSet"):
        with ctx.twin.lock:
            fleet = ctx.twin.fleets.get(text(item, "spotFleetRequestId"))
        if fleet is None:
            continue
        if fleet.get("cancelled"):
            set_text(item, "spotFleetRequestState",
                     "cancelled_terminating" if ctx.now < fleet["cancelled_done"] else "cancelled")
        elif ctx.now < fleet["evaluated_at"]:
            set_text(item, "spotFleetRequestState", "submitted")
            set_text(item, "activityStatus", "pending_fulfillment")
        elif ctx.now < fleet["fulfilled_at"]:
            set_text(item, "spotFleetRequestState", "active")
            set_text(item, "activityStatus", "pending_fulfillment")
        else:
            set_text(item, "spotFleetRequestState", "active")
            set_text(item, "activityStatus", "fulfilled")
    return 200, dump(root)


def cancel_spot_fleet_requests(ctx, params, region):
    # moto forgets a cancelled fleet; AWS shows it (cancelled_terminating, then
    # cancelled) for a while: keep moto's last description of it
    twin = ctx.twin
    asked = param_list(params, "SpotFleetRequestId")
    st, data = twin.moto.call("DescribeSpotFleetRequests",
                              {f"SpotFleetRequestId.{n + 1}": f for n, f in enumerate(asked)},
                              region)
    before = {text(i, "spotFleetRequestId"): i
              for i in (items(parse(data), "spotFleetRequestConfigSet") if st == 200 else [])}
    status, body = ctx.forward()
    if status == 200 and (params.get("TerminateInstances") or [""])[0] == "true":
        with twin.lock:
            theirs = [i for i, r in twin.instances.items() if r.get("fleet") in asked]
        twin.shutting_down(theirs, ctx.now)
    if status == 200:
        with twin.lock:
            for fid in asked:
                if fid in twin.fleets and fid in before:
                    twin.fleets[fid].update(cancelled=True, item=before[fid],
                                            cancelled_done=ctx.now + ctx.profile.delay("detach"))
    return status, body


def attach_volume(ctx, params, region):
    iid = (params.get("InstanceId") or [""])[0]
    vid = (params.get("VolumeId") or [""])[0]
    refused = not_yet_known(ctx, [iid])
    if refused:
        return refused
    st, data = ctx.twin.moto.call("DescribeInstances", {"InstanceId.1": iid}, region)
    root = parse(data) if st == 200 else None
    if root is not None:
        for res in items(root, "reservationSet"):
            for item in items(res, "instancesSet"):
                name = text(child(item, "instanceState"), "name")
                if name in LIVE and ctx.twin.state(iid, ctx.now) == "pending":
                    return ctx.error("IncorrectState", f"Instance '{iid}' is not 'running'.")
    status, body = ctx.forward()
    if status == 200:
        delay = ctx.profile.delay("attach")
        with ctx.twin.lock:
            ctx.twin.attaching[vid] = ctx.now + delay
            ctx.twin.detaching.pop(vid, None)
        # For bin/bench's critical path: how long each volume's attachment takes.
        timeline = ctx.twin.idir(iid, "timeline.json")
        if os.path.exists(timeline):
            t = read_json(timeline) or {}
            t.setdefault("attach_delay", {})[vid] = delay
            write_json(timeline, t)
        return with_status(status, body, "attaching")
    return status, body


def detach_volume(ctx, params, region):
    vid = (params.get("VolumeId") or [""])[0]
    st, data = ctx.twin.moto.call("DescribeVolumes", {"VolumeId.1": vid}, region)
    before = None
    for v in items(parse(data), "volumeSet") if st == 200 else []:
        for a in items(v, "attachmentSet"):
            before = {"instance": text(a, "instanceId"), "device": text(a, "device"),
                      "time": text(a, "attachTime")}
    status, body = ctx.forward()
    if status == 200 and before:
        with ctx.twin.lock:
            ctx.twin.attaching.pop(vid, None)
            ctx.twin.detaching[vid] = dict(before, until=ctx.now + ctx.profile.delay("detach"))
        return with_status(status, body, "detaching")
    return status, body


def with_status(status, body, value):
    """moto's answer to AttachVolume or DetachVolume with the attachment's status AWS
    shows at first (moto's is final at once)."""
    root = parse(body)
    if root is None:
        return status, body
    set_text(root, "status", value)
    return 200, dump(root)


def describe_volumes(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    twin, now = ctx.twin, ctx.now
    with twin.lock:
        attaching = dict(twin.attaching)
        detaching = dict(twin.detaching)
    for v in items(root, "volumeSet"):
        vid = text(v, "volumeId")
        for a in items(v, "attachmentSet"):
            if a is not None and now < attaching.get(vid, 0):
                set_text(a, "status", "attaching")
        d = detaching.get(vid)
        if d and now < d["until"] and text(v, "status") == "available":
            aset = child(v, "attachmentSet")
            if aset is None:
                aset = ET.SubElement(v, q("attachmentSet"))
            a = ET.SubElement(aset, q("item"))
            set_text(a, "volumeId", vid)
            set_text(a, "instanceId", d["instance"])
            set_text(a, "device", d["device"])
            set_text(a, "status", "detaching")
            set_text(a, "attachTime", d["time"])
            set_text(a, "deleteOnTermination", "false")
            set_text(v, "status", "in-use")
    return 200, dump(root)


def modify_volume(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    vid = (params.get("VolumeId") or [""])[0]
    p = ctx.profile
    optimizing = ctx.now + p.delay("modify_modifying")
    with ctx.twin.lock:
        ctx.twin.modifying[vid] = {"start": ctx.now, "optimizing_at": optimizing,
                                   "completed_at": optimizing + p.delay("modify_optimizing")}
    for m in [child(root, "volumeModification")]:
        if m is not None:
            show_modification(ctx.twin, m, ctx.now)
    return 200, dump(root)


def show_modification(twin, m, now):
    with twin.lock:
        r = twin.modifying.get(text(m, "volumeId"))
    if r is None:
        return
    if now < r["optimizing_at"]:
        state, progress = "modifying", 0
    elif now < r["completed_at"]:
        span = max(r["completed_at"] - r["optimizing_at"], 1e-9)
        state, progress = "optimizing", int(99 * (now - r["optimizing_at"]) / span)
    else:
        state, progress = "completed", 100
    set_text(m, "modificationState", state)
    set_text(m, "progress", str(progress))
    if state == "completed":
        set_text(m, "endTime", iso(r["completed_at"]))
    else:
        remove(m, "endTime")


def describe_volumes_modifications(ctx, params, region):
    status, body, root = forward_xml(ctx)
    if root is None:
        return status, body
    for m in items(root, "volumeModificationSet"):
        show_modification(ctx.twin, m, ctx.now)
    return 200, dump(root)


def console_text(iid, machine):
    keys = machine.get("host_keys") or []
    prints = machine.get("fingerprints") or []
    lines = [f"[    0.000000] Linux version (local twin) booting {iid}",
             "Cloud-init v. 24.1 running 'init' ...",
             "ci-info: no authorized SSH keys fingerprints found for user root.",
             "<14>Dec  1 00:00:00 cloud-init: #############################################################",
             "<14>Dec  1 00:00:00 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----"]
    lines += [f"<14>Dec  1 00:00:00 cloud-init: {fp}" for fp in prints]
    lines += ["<14>Dec  1 00:00:00 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----",
              "<14>Dec  1 00:00:00 cloud-init: #############################################################",
              "-----BEGIN SSH HOST KEY KEYS-----"]
    lines += keys
    lines += ["-----END SSH HOST KEY KEYS-----",
              f"Cloud-init v. 24.1 finished. Datasource DataSourceEc2Local. Up 12.00 seconds"]
    return "\n".join(lines) + "\n"


def get_console_output(ctx, params, region):
    status, body = ctx.forward()
    twin = ctx.twin
    root = parse(body) if status == 200 else None
    if root is None or not twin.machines():
        return status, body
    iid = (params.get("InstanceId") or [""])[0]
    machine = twin.machine(iid)
    if machine and machine.get("state") == "ready":
        set_text(root, "output", base64.b64encode(console_text(iid, machine).encode()).decode())
        set_text(root, "timestamp", iso(ctx.now))
    else:
        remove(root, "output")  # AWS: no output until the instance has written some
    return 200, dump(root)


HANDLERS = {
    "RunInstances": run_instances,
    "CreateTags": create_tags,
    "DescribeInstances": describe_instances,
    "RequestSpotInstances": request_spot_instances,
    "DescribeSpotInstanceRequests": describe_spot_instance_requests,
    "CancelSpotInstanceRequests": cancel_spot_instance_requests,
    "TerminateInstances": terminate_instances,
    "RequestSpotFleet": request_spot_fleet,
    "DescribeSpotFleetInstances": describe_spot_fleet_instances,
    "DescribeSpotFleetRequests": describe_spot_fleet_requests,
    "CancelSpotFleetRequests": cancel_spot_fleet_requests,
    "AttachVolume": attach_volume,
    "DetachVolume": detach_volume,
    "DescribeVolumes": describe_volumes,
    "ModifyVolume": modify_volume,
    "DescribeVolumesModifications": describe_volumes_modifications,
    "GetConsoleOutput": get_console_output,
    "DescribeSpotPriceHistory": prices.handle,  # branch cost: a price history per type and zone
    **snapshots.HANDLERS,
}


# ---------------------------------------------------------------- interruptions

def ticker(twin, stop):
    """Terminates interrupted instances at their deadline (interrupt.json); stops or
    terminates those shut down from inside (shutdown.json)."""
    while not stop.wait(0.1):
        for path in _instance_files(twin.dir, "shutdown.json"):
            iid = os.path.basename(os.path.dirname(path))
            if iid not in twin.initiated:
                try:
                    shut_down_from_inside(twin, iid)
                except OSError as e:
                    log(f"shutdown from inside {iid}: moto: {e}; trying again")
        for path in _instance_files(twin.dir, "interrupt.json"):
            iid = os.path.basename(os.path.dirname(path))
            if iid in twin.interrupted:
                continue
            doc = read_json(path) or {}
            if time.time() >= doc.get("terminate_at", float("inf")):
                # what the twin shows first: nobody sees it terminated but not interrupted
                twin.interrupted.add(iid)
                twin.shutting_down([iid], time.time())
                try:
                    st, data = twin.moto.call("TerminateInstances", {"InstanceId.1": iid})
                except OSError as e:
                    log(f"interruption of {iid}: moto: {e}; trying again")
                    twin.interrupted.discard(iid)
                    continue
                log(f"interruption: terminated {iid} (moto answered {st})")


def shut_down_from_inside(twin, iid):
    """What EC2 does at a shutdown from the instance's operating system."""
    behaviour = "terminate"
    rec = twin.record(iid)
    with twin.lock:
        request = twin.spot.get(rec.get("spot") or "", {})
    if not rec.get("spot") or request.get("type") == "persistent":
        st, data = twin.moto.call("DescribeInstanceAttribute", {
            "InstanceId": iid, "Attribute": "instanceInitiatedShutdownBehavior"})
        if st != 200:
            log(f"shutdown of {iid} from inside: its shutdown behaviour: moto answered {st}; "
                "trying again")
            return
        behaviour = parse(data).findtext("instanceInitiatedShutdownBehavior/value") or "stop"
    now = time.time()
    with twin.lock:
        twin.initiated.add(iid)
        twin.ended[iid] = "terminated" if behaviour == "terminate" else "stopped"
    if behaviour == "terminate":
        twin.shutting_down([iid], now)
        st, _ = twin.moto.call("TerminateInstances", {"InstanceId.1": iid})
    else:
        twin.stopping(iid, now)
        st, _ = twin.moto.call("StopInstances", {"InstanceId.1": iid})
    log(f"shutdown from inside {iid}: {behaviour} (moto answered {st})")


def _instance_files(state_dir, name):
    base = os.path.join(state_dir, "instances")
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return [p for p in (os.path.join(base, n, name) for n in names)
            if os.path.exists(p)]


# ---------------------------------------------------------------- HTTP

def credential_scope(headers, params):
    """(region, service) of the request's SigV4 credential scope, or (None, None)."""
    auth = headers.get("Authorization") or ""
    cred = ""
    if "Credential=" in auth:
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    elif "X-Amz-Credential" in params:
        cred = params["X-Amz-Credential"][-1]
    parts = cred.split("/")
    if len(parts) >= 5:
        return parts[-3], parts[-2]
    return None, None


class Handler(QuietHandler):
    server_version = "AmazonEC2"

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def handle_request(self):
        twin = self.server.twin
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.urlsplit(self.path).query
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type") or ""
        if self.command == "POST" and "x-www-form-urlencoded" in ctype:
            for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                              keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)
        region, service = credential_scope(self.headers, params)
        action = (params.get("Action") or [""])[0]
        if service not in ("ec2", "sts"):
            if service is None and action in strict.service("ec2").operations:
                service = "ec2"
            elif service is None and action in strict.service("sts").operations:
                service = "sts"
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length", "keep-alive")}
        if service in ("ec2", "sts"):
            try:
                strict.check(service, params)
            except strict.Refusal as r:
                log(f"refused {service} {action or '(no action)'}: {r.code}: {r.message}; "
                    f"parameters: {' '.join(sorted(params))}")
                self.server.record(service, params, r)
                return self.answer(r.status, strict.error_body(service, r.code, r.message))
            self.server.record(service, params, None)
            rule = twin.fault(action, params)
            if rule:
                log(f"fault for {action} (call {twin.calls.get(action)}): {rule}")
                if rule.get("drop"):
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if rule.get("error") or rule.get("status"):
                    code = rule.get("error") or ("InternalError" if int(rule["status"]) < 503
                                                 else "Unavailable")
                    status = int(rule.get("status") or STATUS.get(code, 400))
                    message = rule.get("message") or MESSAGES.get(code, f"{code} (twin fault rule)")
                    return self.answer(status, strict.error_body(service, code, message,
                                                                 sender=status < 500))
            handler = HANDLERS.get(action) if service == "ec2" else None
            if handler is not None:
                ctx = Context(twin, params, region or "us-east-1", body, headers, rule)
                try:
                    result = handler(ctx, params, ctx.region)
                except Exception as e:  # a bug of the twin: say so, as AWS's 500 would
                    log(f"handler {action} failed: {type(e).__name__}: {e}")
                    import traceback
                    traceback.print_exc()
                    result = (500, strict.error_body("ec2", "InternalError",
                                                     f"twin gateway: {type(e).__name__}: {e}"))
                if result is not None:
                    return self.answer(*result)
        try:
            status, ctype, data = twin.moto.request(body, headers, self.path, self.command)
        except OSError as e:
            return self.answer(503, strict.error_body(service or "ec2", "Unavailable",
                                                      f"twin gateway: moto unreachable: {e}"))
        self.answer(status, data, ctype)

    def answer(self, status, data, ctype="text/xml"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a probe that reads a few bytes)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    record_file = None  # LOCAL_CLOUD_RECORD: every EC2/STS request, one JSON line each (with its time)

    def record(self, service, params, refusal):
        if not self.record_file:
            return
        line = json.dumps({"at": round(time.time(), 3), "service": service, "params": {
            k: v[-1] for k, v in sorted(params.items()) if k not in strict.ENVELOPE - {"Action", "Version"}},
            "refused": None if refusal is None else {"code": refusal.code,
                                                     "message": refusal.message}})
        with self.lock_record:
            with open(self.record_file, "a") as f:
                f.write(line + "\n")


def serve(state_dir, moto_port, profile, port=0, port_file=None):
    twin = Twin(state_dir, Moto(moto_port), profile)
    server = Server((HOST, port), Handler)
    server.twin = twin
    server.record_file = os.environ.get("LOCAL_CLOUD_RECORD") or None
    server.lock_record = threading.Lock()
    stop = threading.Event()
    threading.Thread(target=ticker, args=(twin, stop), daemon=True).start()
    if port_file:
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{server.server_address[1]}\n")
        os.replace(tmp, port_file)
    log(f"gateway on http://{HOST}:{server.server_address[1]} -> moto :{moto_port}, "
        f"profile {profile.name}, time scale {profile.time_scale:g} (pid {os.getpid()})")
    return server, stop


def main(argv):
    p = argparse.ArgumentParser(prog="gateway.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--state-dir", required=True)
    p.add_argument("--moto-port", type=int, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--profile", default="instant", choices=sorted(profiles.PROFILES))
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int)
    a = p.parse_args(argv)
    import signal
    server, stop = serve(a.state_dir, a.moto_port,
                         profiles.Profile(a.profile, a.time_scale, a.seed), a.port, a.port_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    stop.set()
    log("stopped")
    return 0


if __name__ == "__main__":
    random.seed()
    sys.exit(main(sys.argv[1:]))
