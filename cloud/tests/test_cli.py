"""bin/local-cloud as the twin's entry point: up with a profile, the gateway as the
endpoint, fault and interrupt, down (a whole local cloud of its own, without volumes)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import harness

LC = os.path.join(harness.REPO, "bin", "local-cloud")


def lc(state, *args):
    env = dict(os.environ, PORTAL_LOCAL_CLOUD_DIR=state)
    return subprocess.run([LC, *args], capture_output=True, text=True, env=env, timeout=120)


@unittest.skipUnless(shutil.which("moto_server") and (shutil.which("sshd") or
                                                     os.path.exists("/usr/sbin/sshd")),
                     "needs moto_server and sshd (bin/setup)")
class EntryPoint(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="twin-cli-")
        up = lc(cls.state, "up", "--no-volumes", "--profile", "aws", "--time-scale", "0.02")
        if up.returncode != 0:
            lc(cls.state, "down", "--purge")
            raise AssertionError(f"up failed: {up.stderr}")
        cls.env = dict(line.split(" ", 1)[1].split("=", 1) for line in up.stdout.splitlines()
                       if line.startswith("export "))
        cls.run_json = json.load(open(os.path.join(cls.state, "run.json")))
        cls.ec2 = boto3.client("ec2", endpoint_url=cls.env["AWS_ENDPOINT_URL"],
                               region_name="us-east-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing",
                               config=Config(retries={"total_max_attempts": 1}))

    @classmethod
    def tearDownClass(cls):
        down = lc(cls.state, "down", "--purge")
        assert down.returncode == 0, down.stderr

    def test_up_records_the_profile_and_points_at_the_gateway(self):
        r = self.run_json
        self.assertEqual((r["profile"], r["time_scale"]), ("aws", 0.02))
        self.assertEqual(self.env["AWS_ENDPOINT_URL"], f"http://127.0.0.1:{r['gateway_port']}")
        self.assertNotEqual(r["gateway_port"], r["moto_port"])
        again = lc(self.state, "up", "--profile", "instant")
        self.assertEqual(again.returncode, 64)
        self.assertIn("run `bin/local-cloud down` first", again.stderr)
        status = lc(self.state, "status")
        self.assertEqual(status.returncode, 0)
        self.assertRegex(status.stdout, r"gateway +pid \d+ +http://127\.0\.0\.1:%d  profile aws, "
                         r"time scale 0\.02  \(answering\)" % r["gateway_port"])

    def test_the_endpoint_is_strict(self):
        import urllib.request
        req = urllib.request.Request(self.env["AWS_ENDPOINT_URL"] + "/", method="POST", data=(
            b"Action=DescribeInstances&Version=2016-11-15&InstanceIds.1=i-1"), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/ec2/"
                             "aws4_request, SignedHeaders=host, Signature=0"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            harness._NO_PROXY.open(req, timeout=30)
        self.assertEqual(e.exception.code, 400)
        self.assertIn(b"<Code>UnknownParameter</Code><Message>The parameter InstanceIds.1 is "
                      b"not recognized</Message>", e.exception.read())

    def test_fault_rules(self):
        self.assertEqual(lc(self.state, "fault", "DescribeRegions", "--times", "1",
                            "--error", "RequestLimitExceeded").returncode, 0)
        with self.assertRaises(ClientError) as e:
            self.ec2.describe_regions()
        self.assertEqual(e.exception.response["Error"]["Code"], "RequestLimitExceeded")
        self.ec2.describe_regions()
        listed = lc(self.state, "fault")
        self.assertEqual(json.loads(listed.stdout.splitlines()[0])["action"], "DescribeRegions")
        self.assertEqual(lc(self.state, "fault", "NoSuchAction", "--drop").returncode, 64)
        self.assertEqual(lc(self.state, "fault", "RunInstances", "--status", "200").returncode, 64)
        self.assertEqual(lc(self.state, "fault", "RunInstances", "--error", "InsufficientInstanceCapacity",
                            "--where", "InstanceType").returncode, 64)
        where = lc(self.state, "fault", "RunInstances", "--error", "InsufficientInstanceCapacity",
                   "--where", "InstanceType=t3.large")
        self.assertEqual(json.loads(where.stdout.splitlines()[-1])["where"], {"InstanceType": "t3.large"})
        self.assertEqual(lc(self.state, "fault", "--clear").returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.state, "faults.json")))

    def test_interrupt_a_spot_instance(self):
        image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        plain = self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
        spot = self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                      InstanceMarketOptions={"MarketType": "spot"})["Instances"][0]
        iid = spot["InstanceId"]
        refused = lc(self.state, "interrupt", plain["InstanceId"])
        self.assertEqual(refused.returncode, 1)
        self.assertIn("not a Spot Instance", refused.stderr)
        self.assertEqual(lc(self.state, "interrupt", "vol-123").returncode, 64)
        self.assertEqual(lc(self.state, "interrupt", iid, "--rebalance").returncode, 0)
        folder = os.path.join(self.state, "instances", iid)
        self.assertIn("noticeTime", json.load(open(os.path.join(folder, "rebalance.json"))))
        self.assertFalse(os.path.exists(os.path.join(folder, "interrupt.json")))
        t0 = time.time()
        done = lc(self.state, "interrupt", iid)  # two minutes times 0.02: 2.4 s
        self.assertEqual(done.returncode, 0, done.stderr)
        notice = json.load(open(os.path.join(folder, "interrupt.json")))
        self.assertEqual(notice["action"], "terminate")
        self.assertAlmostEqual(notice["terminate_at"] - t0, 2.4, delta=1.0)
        self.assertRegex(notice["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        def request():
            return self.ec2.describe_spot_instance_requests(
                SpotInstanceRequestIds=[spot["SpotInstanceRequestId"]])["SpotInstanceRequests"][0]
        self.assertEqual(request()["Status"]["Code"], "marked-for-termination")
        deadline = time.time() + 15
        while time.time() < deadline:
            state = self.ec2.describe_instances(
                InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
            if state == "terminated":
                break
            time.sleep(0.1)
        self.assertEqual(state, "terminated")
        self.assertGreaterEqual(time.time() - t0, 2.0)
        self.assertEqual(request()["State"], "closed")


if __name__ == "__main__":
    unittest.main()
