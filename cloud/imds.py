"""The instance metadata service (IMDSv2) of one machine of the local cloud.

Served on 169.254.169.254:80 inside the machine's network namespace: the machine
manager opens the listening socket in that namespace (setns on one thread) and serves
it from a thread of its own, so no process of the twin runs inside the machine for it.

What it serves, as EC2 does (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
configuring-instance-metadata-service.html): PUT /latest/api/token with
X-aws-ec2-metadata-token-ttl-seconds (1..21600) gives a token; every GET needs a live
token in X-aws-ec2-metadata-token (401 without); a PUT carrying X-Forwarded-For is
refused (403), as AWS refuses tokens through proxies. spot/instance-action and
events/recommendations/rebalance are 404 until the gateway writes interrupt.json or
rebalance.json into the instance's folder of the state directory.
"""

import ctypes
import http.server
import json
import os
import secrets
import socket
import threading
import time

from common import QuietHandler, read_json

ADDRESS = "169.254.169.254"
PORT = 80
TTL_MAX = 21600
CLONE_NEWNET = 0x40000000


class Metadata:
    """What one instance's metadata says: fixed facts from moto at boot, plus the
    gateway's interruption files read on every request."""

    def __init__(self, instance_dir, facts, public_key):
        self.dir = instance_dir
        self.facts = facts  # path under meta-data/ -> text
        self.public_key = public_key

    def _file(self, name):
        return read_json(os.path.join(self.dir, name))

    def lookup(self, path):
        """Text for a path under /latest/meta-data/, or None (404)."""
        path = path.strip("/")
        if path == "spot/instance-action":
            notice = self._file("interrupt.json")
            return None if notice is None else json.dumps(
                {"action": notice.get("action", "terminate"), "time": notice.get("time")})
        if path == "events/recommendations/rebalance":
            notice = self._file("rebalance.json")
            return None if notice is None else json.dumps({"noticeTime": notice.get("noticeTime")})
        if path == "public-keys" and self.public_key:
            return f"0={self.facts.get('_key_name', '')}"
        if path == "public-keys/0" and self.public_key:
            return "openssh-key"
        if path == "public-keys/0/openssh-key" and self.public_key:
            return self.public_key + "\n"
        if path in self.facts and not path.startswith("_"):
            return self.facts[path]
        # a folder: list what is under it
        prefix = path + "/" if path else ""
        names = set()
        keys = [k for k in self.facts if not k.startswith("_")] + ["spot/instance-action"] * bool(
            self._file("interrupt.json")) + ["events/recommendations/rebalance"] * bool(
            self._file("rebalance.json")) + ["public-keys/0/openssh-key"] * bool(self.public_key)
        for key in keys:
            if key.startswith(prefix):
                rest = key[len(prefix):]
                names.add(rest.split("/")[0] + ("/" if "/" in rest else ""))
        return "\n".join(sorted(names)) if names else None


class Handler(QuietHandler):
    server_version = "EC2ws"

    def _send(self, status, body="", headers=None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path != "/latest/api/token":
            return self._send(404, "Not Found")
        if self.headers.get("X-Forwarded-For"):
            return self._send(403, "Forbidden")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        try:
            seconds = int(ttl)
        except (TypeError, ValueError):
            return self._send(400, "Bad Request")
        if not 1 <= seconds <= TTL_MAX:
            return self._send(400, "Bad Request")
        token = secrets.token_urlsafe(42)
        self.server.tokens[token] = time.monotonic() + seconds
        self._send(200, token, {"X-aws-ec2-metadata-token-ttl-seconds": str(seconds)})

    def do_GET(self):
        token = self.headers.get("X-aws-ec2-metadata-token")
        expiry = self.server.tokens.get(token or "")
        if expiry is None or expiry < time.monotonic():
            return self._send(401, "Unauthorized")
        path = self.path.split("?")[0]
        if path in ("/", "/latest", "/latest/"):
            return self._send(200, "api/token\ndynamic\nmeta-data\n" if path != "/" else "latest\n")
        if not path.startswith("/latest/meta-data"):
            return self._send(404, "Not Found")
        text = self.server.metadata.lookup(path[len("/latest/meta-data"):])
        if text is None:
            return self._send(404, "Not Found")
        self._send(200, text)

    do_HEAD = do_GET


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock, metadata):
        super().__init__((ADDRESS, PORT), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.metadata = metadata
        self.tokens = {}


_libc = ctypes.CDLL(None, use_errno=True)


def listen_in_netns(netns_path):
    """A listening socket on ADDRESS:PORT inside the network namespace at netns_path.
    Made on a thread of its own (setns changes only the calling thread), which ends
    right after: the socket stays in the namespace it was made in."""
    out = {}

    def work():
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns_path}")
            finally:
                os.close(fd)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ADDRESS, PORT))
            s.listen(16)
            out["sock"] = s
        except OSError as e:
            out["error"] = e

    t = threading.Thread(target=work, name="imds-setns")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


def serve(netns_path, metadata):
    """Start serving; returns the server (call shutdown() and server_close() to stop)."""
    server = Server(listen_in_netns(netns_path), metadata)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                     name="imds", daemon=True).start()
    return server
