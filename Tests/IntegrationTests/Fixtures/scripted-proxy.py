#!/usr/bin/env python3
"""A scripted HTTP proxy in front of the real moto, for what moto cannot do:
AWS's own capacity behaviour. moto fulfils spot requests at once; this proxy
makes an instance look `pending` for as long as the test wants, or answers a
launch with a capacity error, and passes everything else through unchanged.

    scripted-proxy.py PORT_FILE UPSTREAM MODE

MODE: one or more of, with commas:
  pending        DescribeInstances shows running instances as pending (and
                 AttachVolume to one so shown answers IncorrectState, as AWS does)
  pending=S      the same, for S seconds after this proxy first saw the instance
  capacity       RunInstances answers InsufficientInstanceCapacity
  unknown=S      DescribeInstances of an instance launched less than S seconds
                 ago answers InvalidInstanceID.NotFound (eventual consistency)
  attaching      DescribeVolumes shows attached volumes as still attaching
  shutting       DescribeInstances shows terminated instances as shutting-down
  hang=ACTION    ACTION's answer is held for 120 s
  pass           nothing
The port it listens on (127.0.0.1, chosen by the system) is written to PORT_FILE.
"""
import http.server
import re
import sys
import threading
import time
import urllib.parse
import urllib.request

port_file, upstream = sys.argv[1], sys.argv[2].rstrip("/")
modes = dict((m.split("=", 1) + [""])[:2] for m in sys.argv[3].split(","))
first_seen = {}  # instance id -> when this proxy first saw it
lock = threading.Lock()


def aws_error(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message>"
            "</Error></Errors><RequestID>scripted-proxy</RequestID></Response>" % (code, message)).encode()


def age(instance):
    with lock:
        return time.monotonic() - first_seen.setdefault(instance, time.monotonic())


def shown_pending(instance):
    if "pending" not in modes:
        return False
    return modes["pending"] == "" or age(instance) < float(modes["pending"])

CAPACITY_ERROR = b"""<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>We currently do not have sufficient t3.medium capacity in the Availability Zone you requested (us-east-1a).</Message></Error></Errors><RequestID>scripted-proxy</RequestID></Response>"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        params = urllib.parse.parse_qs(body.decode())
        action = params.get("Action", [""])[0]
        if "capacity" in modes and action in ("RunInstances", "RequestSpotInstances"):
            return self.answer(400, CAPACITY_ERROR)
        if modes.get("hang") == action:
            time.sleep(120)
        instance = params.get("InstanceId.1", params.get("InstanceId", [""]))[0]
        if "unknown" in modes and action == "DescribeInstances" and instance and age(instance) < float(modes["unknown"]):
            return self.answer(400, aws_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist" % instance))
        if action == "AttachVolume" and shown_pending(instance):
            return self.answer(400, aws_error("IncorrectState", "Instance '%s' is not 'running'." % instance))
        request = urllib.request.Request(upstream + self.path, data=body, method="POST")
        for name, value in self.headers.items():
            if name.lower() not in ("host", "content-length", "connection"):
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        if action == "RunInstances":
            for found in re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", data):
                age(found.decode())
        if action == "DescribeInstances":
            data = re.sub(rb"<instanceId>(i-[0-9a-f]+)</instanceId>.*?</instanceState>", self.instance_state,
                          data, flags=re.S)
        if "attaching" in modes and action == "DescribeVolumes":
            data = data.replace(b"<status>attached</status>", b"<status>attaching</status>")
        self.answer(status, data)

    def instance_state(self, match):
        text, instance = match.group(0), match.group(1).decode()
        if shown_pending(instance):
            text = text.replace(b"<code>16</code>", b"<code>0</code>").replace(b"<name>running</name>", b"<name>pending</name>")
        if "shutting" in modes:
            text = text.replace(b"<code>48</code>", b"<code>32</code>").replace(
                b"<name>terminated</name>", b"<name>shutting-down</name>")
        return text

    def answer(self, status, data):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client is gone: the Ctrl-C tests stop portal open in the middle of a request


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
