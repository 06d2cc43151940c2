"""Portal Gun's own three launch paths (portal-spot-request --api run-instances,
spot-request, spot-fleet) through the strict gateway: nothing refused, the wire
parameters AWS has, and portal-spot-cancel cancels the fleet. Needs the built binaries
(bin/test builds them before it runs these tests)."""

import json
import os
import subprocess
import tempfile
import unittest

import harness

BIN = os.environ.get("PORTAL_BIN_DIR") or os.path.join(harness.REPO, ".build", "debug")


@unittest.skipUnless(os.access(os.path.join(BIN, "portal-spot-request"), os.X_OK),
                     f"portal-spot-request is not built in {BIN} (swift build)")
class LaunchPaths(harness.GatewayCase):

    def setUp(self):
        super().setUp()
        self.requests = os.path.join(self.state, "requests.jsonl")
        self.server.record_file = self.requests
        key = os.path.join(self.state, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AWS_") and not k.startswith("PORTAL_")}
        self.env.update(AWS_ENDPOINT_URL=self.url, AWS_REGION="us-east-1",
                        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        HOME=self.state)
        sg = self.moto.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        self.spec = {"spot_instance": {"instance_type": "t3.medium", "image_id": self.image(),
                                       "key_pair_name": "portal", "identity_file": key,
                                       "security_group_id": sg, "availability_zone": "us-east-1a",
                                       "ebs_optimized": True},
                     "spot_fleet": {"iam_fleet_role": "arn:aws:iam::123456789012:role/fleet"},
                     "persistent_volumes": []}

    def tool(self, name, *args, stdin=None):
        r = subprocess.run([os.path.join(BIN, name), *args], input=stdin, capture_output=True,
                           text=True, env=self.env, timeout=120, cwd=self.state)
        self.assertEqual(r.returncode, 0, f"{name} {' '.join(args)}: {r.stderr}")
        return r.stdout

    def launch(self, api):
        path = os.path.join(self.state, f"p-{api}.json")
        with open(path, "w") as f:
            json.dump(self.spec, f)
        document = self.tool("portal-spec", path)
        return self.tool("portal-spot-request", "--api", api, "--timeout", "60", stdin=document)

    def sent(self, action):
        with open(self.requests) as f:
            lines = [json.loads(line) for line in f]
        for line in lines:
            self.assertIsNone(line["refused"], line)
        return [line["params"] for line in lines if line["params"]["Action"] == action]

    def test_run_instances(self):
        launched = json.loads(self.launch("run-instances"))
        [p] = self.sent("RunInstances")
        self.assertEqual(p["InstanceMarketOptions.MarketType"], "spot")
        self.assertEqual(p["SecurityGroupId.1"], self.spec["spot_instance"]["security_group_id"])
        self.assertEqual(p["EbsOptimized"], "true")
        self.assertEqual(launched["instance"]["lifecycle"], "spot")
        self.assertTrue(launched["instance"]["spot_request_id"].startswith("sir-"))

    def test_spot_request(self):
        launched = json.loads(self.launch("spot-request"))
        [p] = self.sent("RequestSpotInstances")
        self.assertEqual(p["LaunchSpecification.SecurityGroupId.1"],
                         self.spec["spot_instance"]["security_group_id"])
        self.assertEqual((p["Type"], p["InstanceCount"]), ("one-time", "1"))
        self.assertEqual(launched["instance"]["state"], "running")

    def test_spot_fleet_and_its_cancellation(self):
        launched = self.launch("spot-fleet")
        [p] = self.sent("RequestSpotFleet")
        prefix = "SpotFleetRequestConfig.LaunchSpecifications.1."
        self.assertEqual(p[prefix + "GroupSet.1.GroupId"],
                         self.spec["spot_instance"]["security_group_id"])
        self.assertFalse([k for k in p if "SecurityGroups" in k])
        instance = json.loads(launched)["instance"]
        fid = instance["spot_fleet_request_id"]
        self.assertTrue(fid.startswith("sfr-"))
        self.tool("portal-spot-cancel", stdin=launched)
        [c] = self.ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fid])["SpotFleetRequestConfigs"]
        self.assertIn(c["SpotFleetRequestState"], ("cancelled_terminating", "cancelled"))
        # Portal Gun terminates the instance itself, then cancels the fleet (a fleet of
        # type `request` launches no replacement); either way nothing is left running.
        [cancel] = self.sent("CancelSpotFleetRequests")
        self.assertEqual(cancel["SpotFleetRequestId.1"], fid)
        self.assertEqual(len(self.sent("TerminateInstances")), 1)
        state = self.moto.describe_instances(InstanceIds=[instance["id"]])
        self.assertEqual(state["Reservations"][0]["Instances"][0]["State"]["Name"], "terminated")


if __name__ == "__main__":
    unittest.main()
