"""What the twin's daemons share: their log line, JSON state files written atomically
(by rename, so a reader never sees half a file) and read leniently (absent or torn: None),
and a quiet HTTP handler base for the servers (the gateway, each machine's IMDS)."""

import http.server
import json
import os
import threading
import time


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def write_atomic(path, text, mode=0o644):
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, json.dumps(obj) + "\n")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), no Python version in the Server header, no access log."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass
