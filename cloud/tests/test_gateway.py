"""The gateway in front of a real moto: strictness on the wire, AWS behaviour, faults."""

import json
import os
import time
import unittest
import xml.etree.ElementTree as ET

import harness
from botocore.exceptions import ClientError
from profiles import Profile

SPOT = {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time",
                                              "InstanceInterruptionBehavior": "terminate"}}
FLEET_ROLE = "arn:aws:iam::123456789012:role/fleet"


def code_of(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None


class Strictness(harness.GatewayCase):

    def test_a_refused_request_never_reaches_moto(self):
        status, body = self.post({"Action": "RunInstances", "Version": "2016-11-15",
                                  "ImageId": self.image(), "MinCount": "1", "MaxCount": "1",
                                  "SecurityGroups.1.GroupId": "sg-1"})
        self.assertEqual(status, 400)
        root = ET.fromstring(body)
        self.assertEqual(root.findtext("Errors/Error/Code"), "UnknownParameter")
        self.assertEqual(root.findtext("Errors/Error/Message"),
                         "The parameter SecurityGroups.1.GroupId is not recognized")
        self.assertEqual(self.moto.describe_instances()["Reservations"], [])

    def test_sts_refusal_in_the_query_form(self):
        status, body = self.post({"Action": "GetCallerIdentity", "Version": "2011-06-15",
                                  "Extra": "1"}, service="sts")
        self.assertEqual(status, 400)
        self.assertIn(b"<ErrorResponse", body)
        self.assertIn(b"<Code>UnknownParameter</Code>", body)
        self.assertEqual(self.sts.get_caller_identity()["Account"], "123456789012")

    def test_boto3_requests_pass_through(self):
        self.assertTrue(self.ec2.describe_regions()["Regions"])
        self.assertIsNotNone(self.ec2.describe_instances())


class Instant(harness.GatewayCase):
    """instant profile: what tests at unit speed see."""

    def launch(self, **kw):
        return self.ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1,
                                      InstanceType="t3.medium", **kw)["Instances"][0]

    def describe(self, iid):
        return self.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]

    def test_run_instances_answers_pending_then_running(self):
        i = self.launch()
        self.assertEqual(i["State"]["Name"], "pending")
        self.assertEqual(self.describe(i["InstanceId"])["State"]["Name"], "running")
        timeline = json.load(open(os.path.join(self.state, "instances", i["InstanceId"],
                                               "timeline.json")))
        self.assertEqual(set(timeline), {"launched_at", "running_at", "ssh_delay"})

    def test_run_instances_with_spot_options_makes_a_spot_request(self):
        i = self.launch(InstanceMarketOptions=SPOT)
        sir = i["SpotInstanceRequestId"]
        self.assertTrue(sir.startswith("sir-"))
        d = self.describe(i["InstanceId"])
        self.assertEqual((d["InstanceLifecycle"], d["SpotInstanceRequestId"]), ("spot", sir))
        by_id = self.ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[sir])
        by_instance = self.ec2.describe_spot_instance_requests(
            Filters=[{"Name": "instance-id", "Values": [i["InstanceId"]]}])
        for answer in (by_id, by_instance):
            [r] = answer["SpotInstanceRequests"]
            self.assertEqual((r["SpotInstanceRequestId"], r["InstanceId"], r["State"],
                              r["Status"]["Code"]), (sir, i["InstanceId"], "active", "fulfilled"))
        self.ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[sir])
        [r] = self.ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[sir])["SpotInstanceRequests"]
        self.assertEqual(r["State"], "cancelled")

    def test_spot_request_is_fulfilled(self):
        r = self.ec2.request_spot_instances(InstanceCount=1, LaunchSpecification={
            "ImageId": self.image(), "InstanceType": "t3.medium"})["SpotInstanceRequests"][0]
        [d] = self.ec2.describe_spot_instance_requests(
            SpotInstanceRequestIds=[r["SpotInstanceRequestId"]])["SpotInstanceRequests"]
        self.assertEqual((d["State"], d["Status"]["Code"]), ("active", "fulfilled"))
        i = self.describe(d["InstanceId"])
        self.assertEqual((i["InstanceLifecycle"], i["SpotInstanceRequestId"]),
                         ("spot", r["SpotInstanceRequestId"]))

    def test_fleet_instances_carry_the_fleet_tag_and_cancel_shows(self):
        sg = self.moto.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        fid = self.ec2.request_spot_fleet(SpotFleetRequestConfig={
            "IamFleetRole": FLEET_ROLE, "TargetCapacity": 1, "AllocationStrategy": "lowestPrice",
            "LaunchSpecifications": [{"ImageId": self.image(), "InstanceType": "t3.medium",
                                      "SecurityGroups": [{"GroupId": sg}]}]})["SpotFleetRequestId"]
        [c] = self.ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fid])["SpotFleetRequestConfigs"]
        self.assertEqual((c["SpotFleetRequestState"], c["ActivityStatus"]), ("active", "fulfilled"))
        [a] = self.ec2.describe_spot_fleet_instances(SpotFleetRequestId=fid)["ActiveInstances"]
        i = self.describe(a["InstanceId"])
        self.assertIn({"Key": "aws:ec2spot:fleet-request-id", "Value": fid}, i["Tags"])
        self.assertEqual(i["InstanceLifecycle"], "spot")
        self.assertEqual(i["SpotInstanceRequestId"], a["SpotInstanceRequestId"])
        self.ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[fid], TerminateInstances=True)
        [c] = self.ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fid])["SpotFleetRequestConfigs"]
        self.assertEqual(c["SpotFleetRequestState"], "cancelled")
        self.assertEqual(self.describe(a["InstanceId"])["State"]["Name"], "terminated")

    def test_spot_price_history_is_prices_py(self):
        history = self.ec2.describe_spot_price_history(InstanceTypes=["m5.large"],
                                                       ProductDescriptions=["Linux/UNIX"],
                                                       AvailabilityZone="us-east-1a")
        prices = history["SpotPriceHistory"]
        self.assertGreater(len(prices), 24)  # an hourly history; moto has one price
        self.assertEqual({p["AvailabilityZone"] for p in prices}, {"us-east-1a"})

    def test_console_output_without_machines_is_motos(self):
        i = self.launch()
        out = self.ec2.get_console_output(InstanceId=i["InstanceId"])
        self.assertEqual(out["InstanceId"], i["InstanceId"])


class Timed(harness.GatewayCase):
    """Fixed delays, so that every intermediate state is seen."""
    PROFILE = Profile("aws", 1.0, ranges={
        "spot_evaluation": (0.3, 0.3), "spot_fulfilment": (0.3, 0.3), "pending": (1.5, 1.5),
        "ssh": (0.1, 0.1), "attach": (0.4, 0.4), "detach": (0.4, 0.4),
        "modify_modifying": (0.3, 0.3), "modify_optimizing": (0.3, 0.3), "consistency": (0.5, 0.5),
        "shutting_down": (0.4, 0.4),
        "interruption_notice": (1.0, 1.0)})

    def states(self, fn, until, timeout=5):
        """Distinct values of fn() in the order seen, polling until `until` is seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = fn()
            if not seen or seen[-1] != v:
                seen.append(v)
            if v == until:
                return seen
            time.sleep(0.02)
        self.fail(f"never saw {until}: {seen}")

    def instance_state(self, iid):
        def fn():
            try:
                r = self.ec2.describe_instances(InstanceIds=[iid])["Reservations"]
            except ClientError as e:
                return e.response["Error"]["Code"]
            return r[0]["Instances"][0]["State"]["Name"]
        return fn

    def test_new_instance_is_not_found_then_pending_then_running(self):
        t0 = time.time()
        i = self.ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1)["Instances"][0]
        self.assertEqual(code_of(lambda: self.ec2.create_tags(
            Resources=[i["InstanceId"]], Tags=[{"Key": "a", "Value": "b"}])),
            ("InvalidInstanceID.NotFound", f"The instance ID '{i['InstanceId']}' does not exist"))
        seen = self.states(self.instance_state(i["InstanceId"]), "running")
        self.assertEqual(seen, ["InvalidInstanceID.NotFound", "pending", "running"])
        self.assertGreaterEqual(time.time() - t0, 1.5)

    def test_pending_instance_is_left_out_of_a_running_filter_and_refuses_attach(self):
        vol = self.ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
        i = self.ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1,
                                   Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0]
        iid = i["InstanceId"]
        self.states(self.instance_state(iid), "pending")
        running = self.ec2.describe_instances(Filters=[{"Name": "instance-state-name",
                                                        "Values": ["running"]}])["Reservations"]
        self.assertEqual(running, [])
        pending = self.ec2.describe_instances(Filters=[{"Name": "instance-state-name",
                                                        "Values": ["pending"]}])["Reservations"]
        self.assertEqual(pending[0]["Instances"][0]["InstanceId"], iid)
        self.assertEqual(code_of(lambda: self.ec2.attach_volume(
            VolumeId=vol, InstanceId=iid, Device="/dev/sdf")),
            ("IncorrectState", f"Instance '{iid}' is not 'running'."))
        self.states(self.instance_state(iid), "running")
        self.assertEqual(self.ec2.attach_volume(VolumeId=vol, InstanceId=iid,
                                                Device="/dev/sdf")["State"], "attaching")

        def attachment():
            a = self.ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["Attachments"]
            return a[0]["State"] if a else "none"
        self.assertEqual(self.states(attachment, "attached"), ["attaching", "attached"])
        self.assertEqual(self.ec2.detach_volume(VolumeId=vol, InstanceId=iid)["State"], "detaching")
        self.assertEqual(self.states(attachment, "none"), ["detaching", "none"])
        self.assertEqual(self.ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"], "available")

    def test_terminated_is_shutting_down_first(self):
        iid = self.moto.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        self.ec2.terminate_instances(InstanceIds=[iid])

        def listed(state):
            return [i["InstanceId"] for r in self.ec2.describe_instances(Filters=[
                {"Name": "instance-state-name", "Values": [state]}])["Reservations"]
                for i in r["Instances"]]
        self.assertEqual(listed("shutting-down"), [iid])
        self.assertEqual(listed("terminated"), [])
        self.assertEqual(self.states(self.instance_state(iid), "terminated"),
                         ["shutting-down", "terminated"])
        self.assertEqual(listed("terminated"), [iid])

    def test_spot_request_status_codes_over_time(self):
        r = self.ec2.request_spot_instances(InstanceCount=1, LaunchSpecification={
            "ImageId": self.image(), "InstanceType": "t3.medium"})["SpotInstanceRequests"][0]
        self.assertEqual(r["Status"]["Code"], "pending-evaluation")
        sir = r["SpotInstanceRequestId"]

        def status():
            [d] = self.ec2.describe_spot_instance_requests(
                SpotInstanceRequestIds=[sir])["SpotInstanceRequests"]
            return d["State"], d["Status"]["Code"], "InstanceId" in d
        self.assertEqual(self.states(status, ("active", "fulfilled", True)),
                         [("open", "pending-evaluation", False),
                          ("open", "pending-fulfillment", False),
                          ("active", "fulfilled", True)])

    def test_fleet_state_and_activity_over_time(self):
        fid = self.ec2.request_spot_fleet(SpotFleetRequestConfig={
            "IamFleetRole": FLEET_ROLE, "TargetCapacity": 1, "AllocationStrategy": "lowestPrice",
            "LaunchSpecifications": [{"ImageId": self.image(), "InstanceType": "t3.medium"}]}
        )["SpotFleetRequestId"]

        def instances():
            return len(self.ec2.describe_spot_fleet_instances(
                SpotFleetRequestId=fid)["ActiveInstances"])

        def fleet():
            [c] = self.ec2.describe_spot_fleet_requests(
                SpotFleetRequestIds=[fid])["SpotFleetRequestConfigs"]
            return c["SpotFleetRequestState"], c.get("ActivityStatus")
        self.assertEqual(instances(), 0)
        self.assertEqual(self.states(fleet, ("active", "fulfilled")),
                         [("submitted", "pending_fulfillment"),
                          ("active", "pending_fulfillment"), ("active", "fulfilled")])
        self.assertEqual(instances(), 1)
        self.ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[fid], TerminateInstances=True)

        def state():
            return self.ec2.describe_spot_fleet_requests(
                SpotFleetRequestIds=[fid])["SpotFleetRequestConfigs"][0]["SpotFleetRequestState"]
        self.assertEqual(self.states(state, "cancelled"), ["cancelled_terminating", "cancelled"])

    def test_volume_modification_states(self):
        vol = self.ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
        m = self.ec2.modify_volume(VolumeId=vol, Size=2)["VolumeModification"]
        self.assertEqual(m["ModificationState"], "modifying")

        def state():
            return self.ec2.describe_volumes_modifications(
                VolumeIds=[vol])["VolumesModifications"][0]["ModificationState"]
        self.assertEqual(self.states(state, "completed"), ["modifying", "optimizing", "completed"])


class Machines(harness.GatewayCase):
    """With a machine manager (run.json says machines): running needs machine.json, and
    the console carries its host keys once it is ready."""

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.state, "run.json"), "w") as f:
            json.dump({"machines": True}, f)

    def test_running_waits_for_the_machine_and_shows_its_address(self):
        i = self.ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1)["Instances"][0]
        iid = i["InstanceId"]

        def describe():
            return self.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        d = describe()
        self.assertEqual(d["State"]["Name"], "pending")
        self.assertNotIn("PublicIpAddress", d)
        self.assertEqual(self.ec2.get_console_output(InstanceId=iid).get("Output"), None)
        machine = {"instance_id": iid, "address": "10.211.0.7", "state": "booting",
                   "ssh_ready_at": None, "host_keys": ["ssh-ed25519 AAAAC3Nz root@twin"],
                   "fingerprints": ["256 SHA256:abc root@twin (ED25519)"]}
        with open(os.path.join(self.state, "instances", iid, "machine.json"), "w") as f:
            json.dump(machine, f)
        d = describe()
        self.assertEqual((d["State"]["Name"], d["PublicIpAddress"], d["PrivateIpAddress"]),
                         ("running", "10.211.0.7", "10.211.0.7"))
        self.assertEqual(self.ec2.get_console_output(InstanceId=iid).get("Output"), None)
        machine["state"] = "ready"
        with open(os.path.join(self.state, "instances", iid, "machine.json"), "w") as f:
            json.dump(machine, f)
        out = self.ec2.get_console_output(InstanceId=iid)["Output"]
        self.assertIn("-----BEGIN SSH HOST KEY FINGERPRINTS-----", out)
        self.assertIn("256 SHA256:abc root@twin (ED25519)", out)
        self.assertIn("-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3Nz root@twin\n"
                      "-----END SSH HOST KEY KEYS-----", out)


class Faults(harness.GatewayCase):

    def rules(self, *rules):
        with open(os.path.join(self.state, "faults.json"), "w") as f:
            json.dump({"rules": list(rules)}, f)

    def test_error_on_the_nth_call(self):
        self.rules({"action": "DescribeRegions", "call": 2, "error": "RequestLimitExceeded"})
        self.ec2.describe_regions()
        try:
            self.ec2.describe_regions()
            self.fail("the second call should have failed")
        except ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "RequestLimitExceeded")
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.ec2.describe_regions()

    def test_capacity_error_and_5xx_and_times(self):
        self.rules({"action": "RunInstances", "error": "InsufficientInstanceCapacity", "times": 1},
                   {"action": "DescribeVolumes", "status": 500, "times": 2})
        self.assertEqual(code_of(lambda: self.ec2.run_instances(
            ImageId=self.image(), MinCount=1, MaxCount=1))[0], "InsufficientInstanceCapacity")
        self.assertEqual(self.moto.describe_instances()["Reservations"], [])
        self.ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1)
        status, _ = self.post({"Action": "DescribeVolumes", "Version": "2016-11-15"})
        self.assertEqual(status, 500)
        status, _ = self.post({"Action": "DescribeVolumes", "Version": "2016-11-15"})
        self.assertEqual(status, 500)
        status, _ = self.post({"Action": "DescribeVolumes", "Version": "2016-11-15"})
        self.assertEqual(status, 200)

    def test_capacity_short_for_one_type_and_counts_kept_when_a_rule_is_added(self):
        self.rules({"action": "RunInstances", "error": "InsufficientInstanceCapacity",
                    "where": {"InstanceType": "t3.large"}},
                   {"action": "DescribeRegions", "error": "RequestLimitExceeded", "times": 1})
        for _ in range(2):  # short every time for t3.large, not for another type
            self.assertEqual(code_of(lambda: self.ec2.run_instances(
                ImageId=self.image(), MinCount=1, MaxCount=1, InstanceType="t3.large"))[0],
                "InsufficientInstanceCapacity")
        self.ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1, InstanceType="t3.small")
        self.assertEqual(code_of(self.ec2.describe_regions)[0], "RequestLimitExceeded")
        time.sleep(0.05)  # another mtime (the file clock is coarse)
        with open(os.path.join(self.state, "faults.json")) as f:
            rules = json.load(f)["rules"]
        self.rules(*rules, {"action": "DescribeVolumes", "status": 500, "times": 1})
        self.ec2.describe_regions()  # its one time was used before the file changed

    def test_dropped_connection(self):
        self.rules({"action": "DescribeRegions", "drop": True, "times": 1})
        import http.client
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            self.post({"Action": "DescribeRegions", "Version": "2016-11-15"})
        self.assertEqual(self.post({"Action": "DescribeRegions", "Version": "2016-11-15"})[0], 200)

    def test_capacity_not_available_never_fulfils_and_launches_nothing(self):
        self.rules({"action": "RequestSpotInstances", "spot_status": "capacity-not-available"})
        r = self.ec2.request_spot_instances(InstanceCount=1, LaunchSpecification={
            "ImageId": self.image(), "InstanceType": "t3.medium"})["SpotInstanceRequests"][0]
        time.sleep(0.1)
        [d] = self.ec2.describe_spot_instance_requests(
            SpotInstanceRequestIds=[r["SpotInstanceRequestId"]])["SpotInstanceRequests"]
        self.assertEqual((d["State"], d["Status"]["Code"], d.get("InstanceId")),
                         ("open", "capacity-not-available", None))
        live = self.moto.describe_instances(Filters=[{"Name": "instance-state-name",
                                                      "Values": ["pending", "running"]}])
        self.assertEqual(live["Reservations"], [])


class Interruption(harness.GatewayCase):
    PROFILE = Timed.PROFILE

    def test_interrupt_json_marks_then_terminates_and_detaches(self):
        r = self.ec2.request_spot_instances(InstanceCount=1, LaunchSpecification={
            "ImageId": self.image(), "InstanceType": "t3.medium",
            "Placement": {"AvailabilityZone": "us-east-1a"}})["SpotInstanceRequests"][0]
        sir = r["SpotInstanceRequestId"]
        iid = self.until(lambda: self.ec2.describe_spot_instance_requests(
            SpotInstanceRequestIds=[sir])["SpotInstanceRequests"][0].get("InstanceId"))
        vol = self.ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
        self.until(lambda: self.twin.state(iid, time.time()) == "running", what="running")
        self.ec2.attach_volume(VolumeId=vol, InstanceId=iid, Device="/dev/sdf")
        with open(os.path.join(self.state, "instances", iid, "interrupt.json"), "w") as f:
            json.dump({"action": "terminate", "time": "2026-12-01T00:00:00Z",
                       "terminate_at": time.time() + 0.5}, f)

        def status():
            return self.ec2.describe_spot_instance_requests(
                SpotInstanceRequestIds=[sir])["SpotInstanceRequests"][0]["Status"]["Code"]
        self.assertEqual(status(), "marked-for-termination")
        self.until(lambda: self.moto.describe_instances(InstanceIds=[iid])["Reservations"][0]
                   ["Instances"][0]["State"]["Name"] == "terminated", what="terminated")
        self.assertEqual(status(), "instance-terminated-no-capacity")
        self.until(lambda: self.ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"]
                   == "available", what="volume available")


if __name__ == "__main__":
    unittest.main()
