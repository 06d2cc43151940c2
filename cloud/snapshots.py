"""EBS snapshots as AWS has them, for the local cloud's gateway.

moto makes a snapshot `completed` at once and keeps no data: a volume created
from it is blank. Here:

- CreateSnapshot copies the volume's data (volumes/<vol-id>.img, sparse) to
  snapshots/<snap-id>.img at that moment (a crash-consistent point in time, as
  EBS's), and the snapshot is `pending` with a growing `progress` until its
  delay has passed, then `completed` with 100% (EBS User Guide, "Create Amazon
  EBS snapshots": "Snapshots occur asynchronously ... the snapshot status is
  pending until the snapshot is complete"). The delay is the profile's
  "snapshot" range: none in the instant profile, 5 to 20 s (times the time
  scale) in the aws one.
- CreateVolume from a pending snapshot is refused (IncorrectState), as EC2
  does; from a completed one, the new volume's image starts as a copy of the
  snapshot's data (grown to the volume's size).
- DeleteSnapshot removes the data with the snapshot.

Plugged into the gateway with ``HANDLERS.update(snapshots.HANDLERS)``.
"""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

GIB = 1 << 30
AWS_DELAY = (5.0, 20.0)


def _dir(ctx, *names):
    return os.path.join(ctx.state_dir, *names)


def _record_path(ctx, snap):
    return _dir(ctx, "snapshots", f"{snap}.json")


def _record(ctx, snap):
    try:
        with open(_record_path(ctx, snap)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _delay(profile):
    if profile is None:
        return 0.0
    low, high = profile.ranges.get("snapshot", AWS_DELAY if profile.name == "aws" else (0.0, 0.0))
    return profile.random.uniform(low, high) * profile.time_scale


def _parse(body):
    """(root, namespace prefix) of an EC2 answer."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None, ""
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    return root, ns


def _dump(root, ns):
    if ns:
        ET.register_namespace("", ns[1:-1])
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _set(elem, ns, name, value):
    c = elem.find(ns + name)
    if c is None:
        c = ET.SubElement(elem, ns + name)
    c.text = value


def _copy(source, target, size=None):
    """A sparse copy, written under another name then renamed into place."""
    tmp = target + ".tmp"
    subprocess.run(["cp", "--sparse=always", source, tmp], check=True)
    if size is not None and os.path.getsize(tmp) < size:
        os.truncate(tmp, size)
    os.replace(tmp, target)


def _progress(record, now):
    """(status, progress) of a snapshot at `now`."""
    if record is None or now >= record["ready_at"]:
        return "completed", "100%"
    span = max(record["ready_at"] - record["created"], 1e-9)
    return "pending", f"{min(99, int(100 * (now - record['created']) / span))}%"


def create_snapshot(ctx, params, region):
    status, body = ctx.forward()
    root, ns = _parse(body) if status == 200 else (None, "")
    if root is None:
        return status, body
    snap, volume = root.findtext(ns + "snapshotId"), root.findtext(ns + "volumeId")
    os.makedirs(_dir(ctx, "snapshots"), exist_ok=True)
    image = _dir(ctx, "volumes", f"{volume}.img")
    if os.path.exists(image):
        _copy(image, _dir(ctx, "snapshots", f"{snap}.img"))
    record = {"volume": volume, "created": ctx.now, "ready_at": ctx.now + _delay(ctx.profile)}
    with open(_record_path(ctx, snap) + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(_record_path(ctx, snap) + ".tmp", _record_path(ctx, snap))
    state, progress = _progress(record, ctx.now)
    _set(root, ns, "status", state)
    _set(root, ns, "progress", progress)
    return 200, _dump(root, ns)


def describe_snapshots(ctx, params, region):
    status, body = ctx.forward()
    root, ns = _parse(body) if status == 200 else (None, "")
    if root is None:
        return status, body
    shown = root.find(ns + "snapshotSet")
    for item in [] if shown is None else shown.findall(ns + "item"):
        record = _record(ctx, item.findtext(ns + "snapshotId"))
        if record is None:
            continue
        state, progress = _progress(record, ctx.now)
        _set(item, ns, "status", state)
        _set(item, ns, "progress", progress)
    # the status filter must see the twin's status, not moto's
    wanted = [v for k, v in _filters(params).items() if k == "status"]
    if wanted and shown is not None:
        for item in shown.findall(ns + "item"):
            if item.findtext(ns + "status") not in wanted[0]:
                shown.remove(item)
    return 200, _dump(root, ns)


def _filters(params):
    out = {}
    for key, values in params.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "Filter" and parts[2] == "Name":
            n = parts[1]
            out[values[-1]] = [v[-1] for k, v in sorted(params.items())
                               if k.startswith(f"Filter.{n}.Value.")]
    return out


def create_volume(ctx, params, region):
    snap = (params.get("SnapshotId") or [""])[0]
    if not snap:
        return None
    record = _record(ctx, snap)
    if record is not None and _progress(record, ctx.now)[0] == "pending":
        return ctx.error("IncorrectState", f"Snapshot is in invalid state - pending")
    status, body = ctx.forward()
    root, ns = _parse(body) if status == 200 else (None, "")
    if root is None:
        return status, body
    source = _dir(ctx, "snapshots", f"{snap}.img")
    volume = root.findtext(ns + "volumeId")
    if os.path.exists(source) and volume:
        os.makedirs(_dir(ctx, "volumes"), exist_ok=True)
        size = int(root.findtext(ns + "size") or 0) * GIB
        _copy(source, _dir(ctx, "volumes", f"{volume}.img"), size or None)
    return status, body


def delete_snapshot(ctx, params, region):
    status, body = ctx.forward()
    snap = (params.get("SnapshotId") or [""])[0]
    if status == 200 and snap:
        for name in (f"{snap}.img", f"{snap}.json"):
            try:
                os.remove(_dir(ctx, "snapshots", name))
            except FileNotFoundError:
                pass
    return status, body


HANDLERS = {
    "CreateSnapshot": create_snapshot,
    "DescribeSnapshots": describe_snapshots,
    "CreateVolume": create_volume,
    "DeleteSnapshot": delete_snapshot,
}
