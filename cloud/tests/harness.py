"""A real moto_server and a real gateway (in this process, so that a test can pick its
profile) on loopback ports of their own, and boto3 clients pointed at the gateway."""

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLOUD = os.path.dirname(HERE)
REPO = os.path.dirname(CLOUD)
sys.path.insert(0, CLOUD)

import gateway  # noqa: E402
import profiles  # noqa: E402

if not os.environ.get("TWIN_TEST_VERBOSE"):
    gateway.log = lambda msg: None  # the gateway's log lines would clutter the test output

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(seconds, fn, what, pause=0.05):
    """Poll fn until it returns something true; that value. AssertionError (a test's
    failure) after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(pause)


def wait_http(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _NO_PROXY.open(f"http://127.0.0.1:{port}/", timeout=1).read(16)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


class Moto:
    """One moto_server for the whole test run (started on first use)."""
    port = None
    proc = None

    @classmethod
    def start(cls):
        if cls.proc is None:
            moto = shutil.which("moto_server")
            if moto is None:
                raise unittest.SkipTest("moto_server is not installed (bin/setup)")
            cls.port = free_port()
            cls.proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(cls.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_http(cls.port)
        return cls.port

    @classmethod
    def stop(cls):
        if cls.proc is not None:
            cls.proc.terminate()
            cls.proc.wait(10)
            cls.proc = None


class GatewayCase(unittest.TestCase):
    """Each test gets a fresh gateway (and state dir) with PROFILE in front of the shared
    moto; moto's state is reset before each test."""
    PROFILE = profiles.Profile("instant")

    def profile(self):
        return self.PROFILE

    def setUp(self):
        import boto3
        from botocore.config import Config
        moto_port = Moto.start()
        _NO_PROXY.open(urllib.request.Request(
            f"http://127.0.0.1:{moto_port}/moto-api/reset", method="POST")).read()
        self.state = tempfile.mkdtemp(prefix="twin-test-")
        self.addCleanup(shutil.rmtree, self.state, True)
        self.server, self.stop = gateway.serve(self.state, moto_port, self.profile())
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.addCleanup(self._down)
        self.twin = self.server.twin
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        kw = dict(endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing",
                  config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30))
        self.ec2 = boto3.client("ec2", **kw)
        self.sts = boto3.client("sts", **kw)
        # moto itself, bypassing the gateway, to see what it holds
        kw["endpoint_url"] = f"http://127.0.0.1:{moto_port}"
        self.moto = boto3.client("ec2", **kw)
        self.image()
        self.moto.describe_instances()  # moto builds its backend on the first call: not in a timed test

    def _down(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def post(self, params, service="ec2"):
        """A raw form-encoded POST of these parameters: (status, body)."""
        body = urllib.parse.urlencode(params).encode()
        day = time.strftime("%Y%m%d", time.gmtime())
        req = urllib.request.Request(self.url + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{day}/us-east-1/{service}/"
                             "aws4_request, SignedHeaders=host, Signature=0"})
        try:
            with _NO_PROXY.open(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    _image = None

    def image(self):
        """An AMI moto has (the same in every moto: it loads them from its own data)."""
        if GatewayCase._image is None:
            GatewayCase._image = self.moto.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        return GatewayCase._image

    def until(self, fn, timeout=10.0, what="condition"):
        return wait_until(timeout, fn, what, pause=0.02)


atexit.register(Moto.stop)
