#!/usr/bin/env python3
"""A scripted HTTP proxy in front of the real moto, for what moto cannot do:
AWS's own capacity behaviour. moto fulfils spot requests at once; this proxy
makes an instance look `pending` for as long as the test wants, or answers a
launch with a capacity error, and passes everything else through unchanged.

    scripted-proxy.py PORT_FILE UPSTREAM MODE

MODE: `pending` (DescribeInstances shows running instances as pending),
`capacity` (RunInstances answers InsufficientInstanceCapacity), `pass`.
The port it listens on (127.0.0.1, chosen by the system) is written to PORT_FILE.
"""
import http.server
import sys
import urllib.parse
import urllib.request

port_file, upstream, mode = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]

CAPACITY_ERROR = b"""<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>We currently do not have sufficient t3.medium capacity in the Availability Zone you requested (us-east-1a).</Message></Error></Errors><RequestID>scripted-proxy</RequestID></Response>"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
        if mode == "capacity" and action in ("RunInstances", "RequestSpotInstances"):
            return self.answer(400, CAPACITY_ERROR)
        request = urllib.request.Request(upstream + self.path, data=body, method="POST")
        for name, value in self.headers.items():
            if name.lower() not in ("host", "content-length", "connection"):
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        if mode == "pending" and action == "DescribeInstances":
            data = data.replace(b"<code>16</code>", b"<code>0</code>").replace(
                b"<name>running</name>", b"<name>pending</name>")
        self.answer(status, data)

    def answer(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
