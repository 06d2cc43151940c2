"""Strict API: check an EC2 or STS Query-protocol request against botocore's service
model (the data files the AWS CLI itself uses) before moto sees it, and refuse what
AWS refuses, with AWS's error.

The wire rules, as botocore's serializers write them (botocore/serialize.py):
  - a structure member is `Prefix.Name`, Name being the member's queryName, else its
    locationName with the first letter capitalised (EC2), else the member name;
    the plain query protocol (STS) uses locationName as it is;
  - EC2 lists are always flattened and 1-based: `Name.1`, `Name.2`, ...;
    query-protocol lists are `Name.member.N` unless flattened;
  - maps are `Name.entry.N.key` / `Name.entry.N.value` (`Name.N.key` if flattened).
Values: a member's type, its enum, and the model's min and max (a number's range, a
string's length, a list's number of items: MaxResults 5-1000 of DescribeSecurityGroups,
at most 100 InstanceType.N of DescribeInstanceTypes). Not checked: the model's `pattern`s
(regular expressions in Java's dialect, which EC2 itself does not always apply).
A refused request gets HTTP 400 and the error body AWS sends: EC2's
`<Response><Errors><Error>` form, STS's `<ErrorResponse>` form, each with a request id.
Wording of the messages as EC2 sends them: "The parameter X is not recognized"
(UnknownParameter), "The request must contain the parameter X" (MissingParameter),
"Value (V) for parameter X is invalid. ..." (InvalidParameterValue),
"The action X is not valid for this web service." (InvalidAction).
"""

import base64
import math
import re
import uuid
from xml.sax.saxutils import escape

import botocore
import botocore.loaders
import botocore.model

BOTOCORE_VERSION = botocore.__version__

# Parameters of the request itself, not of the operation: the action, the API version,
# and the signature parameters of a presigned (query-string) request, SigV4 and SigV2.
ENVELOPE = {"Action", "Version",
            "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
            "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
            "AWSAccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
            "Timestamp", "Expires", "SecurityToken"}

INT32 = (-(1 << 31), (1 << 31) - 1)
INT64 = (-(1 << 63), (1 << 63) - 1)
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
INTEGER = re.compile(r"^[+-]?\d+$")


class Refusal(Exception):
    """What AWS answers a malformed request: an error code, a message, a status."""

    def __init__(self, code, message, status=400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def error_body(service, code, message, request_id=None, sender=True):
    """AWS's XML error document: EC2's form or the query protocol's (STS)."""
    rid = request_id or str(uuid.uuid4())
    if service == "ec2":
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
                f"</Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
    return (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()


class Service:
    """One service model: its operations and, per structure, the wire names of its
    members."""

    def __init__(self, name, api_version=None):
        loader = botocore.loaders.Loader()
        raw = loader.load_service_model(name, "service-2", api_version)
        self.model = botocore.model.ServiceModel(raw, name)
        self.name = name
        self.ec2 = self.model.protocol == "ec2"
        self.version = self.model.api_version
        self.operations = set(self.model.operation_names)
        self._names = {}

    def wire_name(self, shape, default):
        s = shape.serialization
        if self.ec2:
            if "queryName" in s:
                return s["queryName"]
            if "name" in s:
                return s["name"][0].upper() + s["name"][1:]
            return default
        return s.get("name", default)

    def members(self, shape):
        """{wire name: (member name, member shape)} of a structure."""
        got = self._names.get(shape.name)
        if got is None:
            got = {self.wire_name(m, k): (k, m) for k, m in shape.members.items()}
            self._names[shape.name] = got
        return got

    def check(self, params):
        """params: {key: [values]} as parse_qs(keep_blank_values=True) gives them.
        Returns the operation name; raises Refusal for what AWS refuses."""
        action = (params.get("Action") or [""])[0]
        if not action:
            raise Refusal("MissingAction", "The request must contain the parameter Action")
        if action not in self.operations:
            raise Refusal("InvalidAction",
                          f"The action {action} is not valid for this web service.")
        version = (params.get("Version") or [""])[0]
        if not version:
            raise Refusal("MissingParameter", "The request must contain the parameter Version")
        if version != self.version:
            raise Refusal("NoSuchVersion",
                          f"The requested version ({version}) of service "
                          f"{'AmazonEC2' if self.ec2 else 'AWSSecurityTokenService'} "
                          "does not exist")
        op = self.model.operation_model(action)
        tree = {}
        for key, values in params.items():
            if key in ENVELOPE:
                continue
            if op.input_shape is None:
                raise Refusal("UnknownParameter", f"The parameter {key} is not recognized")
            self._place(op.input_shape, key, key.split("."), values[-1], tree)
        if op.input_shape is not None:
            self._required(op.input_shape, tree, "")
        return action

    # -- one key: follow its segments down the shapes, check the value at the leaf

    def _place(self, shape, key, segs, value, node):
        unknown = Refusal("UnknownParameter", f"The parameter {key} is not recognized")
        while True:
            t = shape.type_name
            if t == "structure":
                if not segs:
                    raise unknown
                hit = self.members(shape).get(segs[0])
                if hit is None:
                    raise unknown
                name, shape = hit
                segs = segs[1:]
                node = node.setdefault(name, {}) if _container(shape) else _leaf(node, name)
            elif t == "list":
                if not self.ec2 and not shape.serialization.get("flattened"):
                    if not segs or segs[0] != shape.member.serialization.get("name", "member"):
                        raise unknown
                    segs = segs[1:]
                index = _index(segs)
                if index is None:
                    raise unknown
                segs = segs[1:]
                shape = shape.member
                node = node.setdefault(index, {}) if _container(shape) else _leaf(node, index)
            elif t == "map":
                if not shape.serialization.get("flattened"):
                    if not segs or segs[0] != "entry":
                        raise unknown
                    segs = segs[1:]
                index = _index(segs)
                if index is None or len(segs) < 2:
                    raise unknown
                part = segs[1]
                if part == self.wire_name(shape.key, "key"):
                    shape = shape.key
                elif part == self.wire_name(shape.value, "value"):
                    shape = shape.value
                else:
                    raise unknown
                segs = segs[2:]
                node = node.setdefault(index, {})
                node = node.setdefault(part, {}) if _container(shape) else _leaf(node, part)
            else:
                if segs:
                    raise unknown
                _value(key, shape, value)
                return

    # -- required members of every structure the request has

    def _required(self, shape, node, prefix):
        t = shape.type_name
        if t == "structure":
            members = {k: m for k, m in shape.members.items()}
            for req in shape.required_members:
                if req not in node:
                    wire = self.wire_name(members[req], req)
                    raise Refusal("MissingParameter",
                                  f"The request must contain the parameter {prefix}{wire}")
            for name, child in node.items():
                if isinstance(child, dict):
                    m = members[name]
                    self._required(m, child, f"{prefix}{self.wire_name(m, name)}.")
        elif t == "list":
            low, high = shape.metadata.get("min"), shape.metadata.get("max")
            if (low is not None and len(node) < low) or (high is not None and len(node) > high):
                name = prefix.rstrip(".")
                raise Refusal("InvalidParameterValue",
                              f"The parameter {name} has {len(node)} item(s); it takes "
                              f"{_range(low, high)}.")
            for index, child in node.items():
                if isinstance(child, dict):
                    self._required(shape.member, child, f"{prefix}{index}.")


def _container(shape):
    return shape.type_name in ("structure", "list", "map")


def _leaf(node, name):
    node[name] = True
    return node


def _index(segs):
    if not segs or not segs[0].isdigit() or segs[0].startswith("0"):
        return None  # 1-based, no leading zeros
    return int(segs[0])


def _invalid(key, value, why):
    return Refusal("InvalidParameterValue",
                   f"Value ({value}) for parameter {key} is invalid. {why}")


def _range(low, high):
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _bounds(key, shape, value, measure, what):
    """The shape's min and max (botocore's metadata: a number's range, a string's
    length), as AWS checks them: InvalidParameterValue outside."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and measure < low) or (high is not None and measure > high):
        raise _invalid(key, value, f"Expected {what} {_range(low, high)}.")


def _value(key, shape, value):
    t = shape.type_name
    if t in ("integer", "long"):
        lo, hi = INT32 if t == "integer" else INT64
        if not INTEGER.match(value) or not lo <= int(value) <= hi:
            raise _invalid(key, value, "Expected an integer.")
        _bounds(key, shape, value, int(value), "a number")
    elif t == "boolean":
        if value not in ("true", "false"):
            raise _invalid(key, value, "Expected 'true' or 'false'.")
    elif t in ("double", "float"):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isnan(number) or math.isinf(number):
            raise _invalid(key, value, "Expected a number.")
        _bounds(key, shape, value, number, "a number")
    elif t == "timestamp":
        if not ISO8601.match(value):
            raise _invalid(key, value, "Expected an ISO 8601 date and time.")
    elif t == "blob":
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise _invalid(key, value, "Expected base64.") from None
    elif t == "string" and shape.enum and value not in shape.enum:
        some = ", ".join(shape.enum[:8]) + (", ..." if len(shape.enum) > 8 else "")
        raise _invalid(key, value, f"Expected one of: {some}")
    elif t == "string":
        _bounds(key, shape, value, len(value), "a length")


_SERVICES = {}


def service(name):
    """The model of 'ec2' (API version 2016-11-15) or 'sts', loaded once."""
    if name not in _SERVICES:
        _SERVICES[name] = Service(name, "2016-11-15" if name == "ec2" else None)
    return _SERVICES[name]


def check(service_name, params):
    """Check one request; returns its action or raises Refusal."""
    return service(service_name).check(params)
