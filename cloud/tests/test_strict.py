"""The strict API against recorded good and bad requests, and botocore's own serializer."""

import json
import os
import unittest
import xml.etree.ElementTree as ET

import harness  # noqa: F401  (puts cloud/ on sys.path)
import strict
from botocore.serialize import create_serializer

RECORDED = os.path.join(harness.HERE, "requests.json")
V = {"Version": "2016-11-15"}


def refusal(service, params):
    try:
        strict.check(service, {k: [v] for k, v in params.items()})
    except strict.Refusal as r:
        return r.code, r.message
    return None


def serialize(service, action, args):
    svc = strict.service(service)
    body = create_serializer(svc.model.protocol).serialize_to_request(
        args, svc.model.operation_model(action))["body"]
    return {k: str(v) for k, v in body.items()}


class Recorded(unittest.TestCase):
    """cloud/tests/requests.json: requests as Portal Gun sent them (recorded through the
    gateway with LOCAL_CLOUD_RECORD), each with what AWS answers: null (accepted) or
    {code, message}."""

    def test_every_recorded_request_gets_the_recorded_answer(self):
        with open(RECORDED) as f:
            cases = json.load(f)
        self.assertGreater(len(cases), 10)
        for case in cases:
            with self.subTest(case["name"]):
                got = refusal(case["service"], case["params"])
                want = case["refused"]
                self.assertEqual(got, None if want is None else (want["code"], want["message"]))


class LaunchPaths(unittest.TestCase):
    """The three ways Portal Gun launches, with the parameter names AWS has."""

    def test_spot_fleet_security_groups_are_group_set(self):
        prefix = "SpotFleetRequestConfig.LaunchSpecifications.1."
        base = dict(V, Action="RequestSpotFleet", **{
            "SpotFleetRequestConfig.IamFleetRole": "arn:aws:iam::123456789012:role/fleet",
            "SpotFleetRequestConfig.TargetCapacity": "1",
            prefix + "ImageId": "ami-12345678"})
        self.assertIsNone(refusal("ec2", dict(base, **{prefix + "GroupSet.1.GroupId": "sg-1"})))
        self.assertEqual(refusal("ec2", dict(base, **{prefix + "SecurityGroups.1.GroupId": "sg-1"})),
                         ("UnknownParameter", f"The parameter {prefix}SecurityGroups.1.GroupId "
                                              "is not recognized"))

    def test_botocore_serialized_launches_pass(self):
        ami, sg = "ami-12345678", "sg-12345678"
        cases = [
            ("RunInstances", {"ImageId": ami, "MinCount": 1, "MaxCount": 1,
                              "InstanceType": "t3.medium", "KeyName": "k",
                              "SecurityGroupIds": [sg], "EbsOptimized": True,
                              "Placement": {"AvailabilityZone": "us-east-1a"},
                              "InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {
                                  "SpotInstanceType": "one-time",
                                  "InstanceInterruptionBehavior": "terminate"}},
                              "TagSpecifications": [{"ResourceType": "instance",
                                                     "Tags": [{"Key": "a", "Value": "b"}]}]}),
            ("RequestSpotInstances", {"InstanceCount": 1, "Type": "one-time",
                                      "LaunchSpecification": {"ImageId": ami,
                                                              "SecurityGroupIds": [sg],
                                                              "InstanceType": "t3.medium"}}),
            ("RequestSpotFleet", {"SpotFleetRequestConfig": {
                "IamFleetRole": "arn:aws:iam::123456789012:role/fleet", "TargetCapacity": 1,
                "AllocationStrategy": "lowestPrice", "Type": "request",
                "LaunchSpecifications": [{"ImageId": ami, "SecurityGroups": [{"GroupId": sg}],
                                          "Placement": {"AvailabilityZone": "us-east-1a"}}]}}),
            ("DescribeInstances", {"Filters": [{"Name": "instance-state-name",
                                                "Values": ["pending", "running"]}]}),
            ("ModifyVolume", {"VolumeId": "vol-1", "Size": 20}),
            ("DescribeSpotPriceHistory", {"StartTime": "2026-12-01T00:00:00Z",
                                          "InstanceTypes": ["t3.medium"]}),
        ]
        for action, args in cases:
            with self.subTest(action):
                self.assertIsNone(refusal("ec2", serialize("ec2", action, args)))


class Rules(unittest.TestCase):

    def test_unknown_action_and_version(self):
        self.assertEqual(refusal("ec2", dict(V, Action="LaunchRocket")),
                         ("InvalidAction", "The action LaunchRocket is not valid for this web service."))
        self.assertEqual(refusal("ec2", {"Action": "DescribeInstances"})[0], "MissingParameter")
        self.assertEqual(refusal("ec2", {"Action": "DescribeInstances",
                                         "Version": "2014-09-01"})[0], "NoSuchVersion")
        self.assertEqual(refusal("ec2", dict(V))[0], "MissingAction")

    def test_lists_are_flattened_and_one_based(self):
        ok = dict(V, Action="DescribeInstances", **{"InstanceId.1": "i-1", "InstanceId.2": "i-2"})
        self.assertIsNone(refusal("ec2", ok))
        for key in ("InstanceId", "InstanceId.0", "InstanceId.member.1", "InstanceId.01",
                    "InstanceIds.1", "Filter.1.Values.1", "Filter.1.Value"):
            with self.subTest(key):
                self.assertEqual(refusal("ec2", dict(V, Action="DescribeInstances", **{key: "x"})),
                                 ("UnknownParameter", f"The parameter {key} is not recognized"))

    def test_structures_go_one_level_per_dot(self):
        run = dict(V, Action="RunInstances", MinCount="1", MaxCount="1")
        self.assertIsNone(refusal("ec2", dict(run, **{"Placement.AvailabilityZone": "us-east-1a"})))
        self.assertEqual(refusal("ec2", dict(run, Placement="us-east-1a"))[0], "UnknownParameter")
        self.assertEqual(refusal("ec2", dict(run, **{"Placement.Zone": "x"}))[0], "UnknownParameter")
        self.assertEqual(refusal("ec2", dict(run, **{"Placement.AvailabilityZone.1": "x"}))[0],
                         "UnknownParameter")

    def test_values_of_the_members_type(self):
        run = dict(V, Action="RunInstances", MinCount="1", MaxCount="1")
        bad = [("MinCount", "one", "Expected an integer."),
               ("MaxCount", "99999999999", "Expected an integer."),
               ("EbsOptimized", "True", "Expected 'true' or 'false'."),
               ("EbsOptimized", "1", "Expected 'true' or 'false'."),
               ("InstanceInitiatedShutdownBehavior", "explode", "Expected one of: stop, terminate"),
               ("InstanceMarketOptions.MarketType", "cheap", "Expected one of:")]
        for key, value, why in bad:
            with self.subTest(key=key, value=value):
                code, message = refusal("ec2", dict(run, **{key: value}))
                self.assertEqual(code, "InvalidParameterValue")
                self.assertTrue(message.startswith(f"Value ({value}) for parameter {key} is invalid. {why}"),
                                message)
        self.assertIsNone(refusal("ec2", dict(run, EbsOptimized="false", MinCount="+1")))
        hist = dict(V, Action="DescribeSpotPriceHistory")
        self.assertIsNone(refusal("ec2", dict(hist, StartTime="2026-12-01T10:00:00.123Z")))
        self.assertEqual(refusal("ec2", dict(hist, StartTime="yesterday"))[0], "InvalidParameterValue")
        price = dict(V, Action="RequestSpotFleet", **{
            "SpotFleetRequestConfig.IamFleetRole": "r", "SpotFleetRequestConfig.TargetCapacity": "1"})
        self.assertIsNone(refusal("ec2", dict(price, **{"SpotFleetRequestConfig.LaunchSpecifications.1."
                                                        "WeightedCapacity": "1.5"})))
        self.assertEqual(refusal("ec2", dict(price, **{"SpotFleetRequestConfig.LaunchSpecifications.1."
                                                       "WeightedCapacity": "lots"}))[0],
                         "InvalidParameterValue")

    def test_required_members_at_every_level(self):
        self.assertEqual(refusal("ec2", dict(V, Action="RunInstances", MinCount="1")),
                         ("MissingParameter", "The request must contain the parameter MaxCount"))
        self.assertEqual(refusal("ec2", dict(V, Action="RequestSpotFleet", **{
            "SpotFleetRequestConfig.TargetCapacity": "1"})),
            ("MissingParameter", "The request must contain the parameter "
                                 "SpotFleetRequestConfig.IamFleetRole"))
        self.assertEqual(refusal("ec2", dict(V, Action="AttachVolume", VolumeId="vol-1",
                                             InstanceId="i-1")),
                         ("MissingParameter", "The request must contain the parameter Device"))

    def test_the_models_ranges_lengths_and_counts(self):
        groups = dict(V, Action="DescribeSecurityGroups")
        self.assertIsNone(refusal("ec2", dict(groups, MaxResults="5")))
        self.assertIsNone(refusal("ec2", dict(groups, MaxResults="1000")))
        for n in ("4", "1001"):
            with self.subTest(MaxResults=n):
                self.assertEqual(refusal("ec2", dict(groups, MaxResults=n)), (
                    "InvalidParameterValue",
                    f"Value ({n}) for parameter MaxResults is invalid. Expected a number from 5 to 1000."))
        types = dict(V, Action="DescribeInstanceTypes")
        many = {f"InstanceType.{i}": "t3.micro" for i in range(1, 102)}
        self.assertIsNone(refusal("ec2", dict(types, **dict(list(many.items())[:100]))))
        self.assertEqual(refusal("ec2", dict(types, **many)), (
            "InvalidParameterValue", "The parameter InstanceType has 101 item(s); it takes from 0 to 100."))
        role = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::1:role/r"}
        code, message = refusal("sts", dict(role, RoleSessionName="s"))
        self.assertEqual(code, "InvalidParameterValue")
        self.assertIn("Expected a length from 2 to 64.", message)

    def test_sts_is_the_query_protocol(self):
        ok = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
        self.assertIsNone(refusal("sts", ok))
        self.assertEqual(refusal("sts", dict(ok, Version="2016-11-15"))[0], "NoSuchVersion")
        self.assertEqual(refusal("sts", dict(ok, Foo="1")),
                         ("UnknownParameter", "The parameter Foo is not recognized"))
        role = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::1:role/r",
                "RoleSessionName": "session"}
        self.assertIsNone(refusal("sts", dict(role, **{"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})))
        self.assertEqual(refusal("sts", dict(role, **{"PolicyArns.1.arn": "arn:x"}))[0],
                         "UnknownParameter")

    def test_presigned_query_parameters_are_the_envelope(self):
        ok = dict(V, Action="DescribeRegions", **{"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                                                  "X-Amz-Credential": "a/b/c/ec2/aws4_request",
                                                  "X-Amz-Date": "20261201T000000Z",
                                                  "X-Amz-Expires": "60",
                                                  "X-Amz-SignedHeaders": "host",
                                                  "X-Amz-Signature": "00"})
        self.assertIsNone(refusal("ec2", ok))


class ErrorBodies(unittest.TestCase):

    def test_ec2_error_document(self):
        root = ET.fromstring(strict.error_body("ec2", "UnknownParameter", "The parameter X is <bad>"))
        self.assertEqual(root.tag, "Response")
        self.assertEqual(root.findtext("Errors/Error/Code"), "UnknownParameter")
        self.assertEqual(root.findtext("Errors/Error/Message"), "The parameter X is <bad>")
        self.assertRegex(root.findtext("RequestID"), r"^[0-9a-f-]{36}$")

    def test_sts_error_document(self):
        root = ET.fromstring(strict.error_body("sts", "MissingParameter", "m"))
        ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
        self.assertEqual(root.tag, ns + "ErrorResponse")
        self.assertEqual(root.findtext(f"{ns}Error/{ns}Code"), "MissingParameter")
        self.assertEqual(root.findtext(f"{ns}Error/{ns}Type"), "Sender")
        self.assertTrue(root.findtext(f"{ns}RequestId"))

    def test_botocore_reads_the_refusal(self):
        from botocore.parsers import create_parser
        svc = strict.service("ec2")
        parsed = create_parser("ec2").parse(
            {"status_code": 400, "headers": {}, "body": strict.error_body("ec2", "MissingParameter", "m")},
            svc.model.operation_model("RunInstances").output_shape)
        self.assertEqual(parsed["Error"]["Code"], "MissingParameter")
        self.assertEqual(parsed["Error"]["Message"], "m")


if __name__ == "__main__":
    unittest.main()
