"""cloud/prices.py: DescribeSpotPriceHistory as AWS serves it, read back with
botocore's own EC2 response parser and service model."""

import os
import sys
import unittest

import botocore.parsers
import botocore.session

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import prices  # noqa: E402

NOW = 1_796_000_000.0  # a fixed clock: 2026-11-30T…Z
MODEL = botocore.session.get_session().get_service_model("ec2")
OPERATION = MODEL.operation_model("DescribeSpotPriceHistory")


def ask(now=NOW, region="us-east-1", **params):
    """The answer, parsed as boto3 would parse it: (status, dict)."""
    query = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    status, body = prices.answer(query, region, now=now)
    parsed = botocore.parsers.EC2QueryParser().parse(
        {"body": body, "headers": {}, "status_code": status}, OPERATION.output_shape)
    return status, parsed


def all_pages(**params):
    rows, token, pages = [], None, 0
    while True:
        extra = {"NextToken": token} if token else {}
        status, parsed = ask(**params, **extra)
        assert status == 200, parsed
        rows += parsed["SpotPriceHistory"]
        pages += 1
        token = parsed.get("NextToken")
        if not token:
            return rows, pages


class SpotPriceHistoryTests(unittest.TestCase):
    def test_latest_price_in_every_zone_of_the_region(self):
        status, parsed = ask(**{"InstanceType.1": "p3.2xlarge", "ProductDescription.1": "Linux/UNIX",
                                "StartTime": str(NOW)})
        self.assertEqual(status, 200)
        rows = parsed["SpotPriceHistory"]
        zones = [name for name, _ in prices.zones("us-east-1")]
        self.assertGreaterEqual(len(zones), 3)
        self.assertEqual(sorted(r["AvailabilityZone"] for r in rows), sorted(zones))
        for row in rows:
            self.assertEqual(row["InstanceType"], "p3.2xlarge")
            self.assertEqual(row["ProductDescription"], "Linux/UNIX")
            self.assertLessEqual(row["Timestamp"].timestamp(), NOW)
            self.assertGreater(float(row["SpotPrice"]), 0)
            self.assertTrue(row["AvailabilityZoneId"].startswith("use1-az"))
        self.assertGreater(len({r["SpotPrice"] for r in rows}), 1, "zones differ in price")

    def test_prices_change_over_time_and_are_the_same_on_every_run(self):
        params = {"InstanceType.1": "m5.large", "AvailabilityZone": "us-east-1a", "ProductDescription.1": "Linux/UNIX",
                  "StartTime": str(NOW - 86400), "EndTime": str(NOW)}
        _, first = ask(**params)
        _, again = ask(**params)
        self.assertEqual(first["SpotPriceHistory"], again["SpotPriceHistory"])
        values = [r["SpotPrice"] for r in first["SpotPriceHistory"]]
        self.assertGreaterEqual(len(values), 24)
        self.assertGreater(len(set(values)), 10, "the price moves from hour to hour")
        stamps = [r["Timestamp"] for r in first["SpotPriceHistory"]]
        self.assertEqual(stamps, sorted(stamps, reverse=True), "newest first")

    def test_the_window_includes_the_price_in_effect_at_its_start(self):
        start, end = NOW - 5 * 3600 - 1234, NOW - 3600
        _, parsed = ask(**{"InstanceType.1": "c5.large", "AvailabilityZone": "us-east-1b",
                           "ProductDescription.1": "Windows", "StartTime": prices.iso(start),
                           "EndTime": prices.iso(end)})
        stamps = [r["Timestamp"].timestamp() for r in parsed["SpotPriceHistory"]]
        self.assertTrue(all(t <= end for t in stamps))
        self.assertEqual(sum(1 for t in stamps if t <= start), 1, "exactly one change at or before the start")
        # A change every hour: 4 or 5 inside a window of 4 h 20 min, plus the one in effect at its start.
        self.assertIn(len(stamps), (5, 6))

    def test_filters_pick_zones_types_and_products_with_wildcards(self):
        _, parsed = ask(**{"Filter.1.Name": "availability-zone", "Filter.1.Value.1": "us-east-1[ab]",
                           "Filter.2.Name": "instance-type", "Filter.2.Value.1": "g4dn.*",
                           "Filter.3.Name": "product-description", "Filter.3.Value.1": "Linux/UNIX",
                           "StartTime": str(NOW)})
        rows = parsed["SpotPriceHistory"]
        self.assertTrue(rows)
        self.assertEqual({r["AvailabilityZone"] for r in rows}, {"us-east-1a", "us-east-1b"})
        self.assertTrue(all(r["InstanceType"].startswith("g4dn.") for r in rows))
        self.assertEqual({r["ProductDescription"] for r in rows}, {"Linux/UNIX"})

    def test_pages_of_max_results_add_up_to_the_whole_without_repeats(self):
        params = {"InstanceType.1": "t3.micro", "StartTime": str(NOW - 6 * 3600), "EndTime": str(NOW)}
        whole = ask(**params)[1]["SpotPriceHistory"]
        rows, pages = all_pages(MaxResults="7", **params)
        self.assertEqual(rows, whole)
        self.assertEqual(pages, -(-len(whole) // 7))
        self.assertEqual(len(whole), len({(r["AvailabilityZone"], r["ProductDescription"], r["Timestamp"]) for r in whole}))

    def test_a_later_page_is_cut_from_the_history_of_the_first(self):
        params = {"InstanceType.1": "t3.micro", "StartTime": str(NOW - 3 * 3600), "MaxResults": "5"}
        _, first = ask(**params)
        _, later = ask(now=NOW + 7200, NextToken=first["NextToken"], **params)
        _, same = ask(NextToken=first["NextToken"], **params)
        self.assertEqual(later["SpotPriceHistory"], same["SpotPriceHistory"])

    def test_without_a_start_time_the_last_90_days(self):
        _, parsed = ask(**{"InstanceType.1": "p3.2xlarge", "AvailabilityZone": "us-east-1c",
                           "ProductDescription.1": "Linux/UNIX", "MaxResults": "1000"})
        rows, _ = all_pages(**{"InstanceType.1": "p3.2xlarge", "AvailabilityZone": "us-east-1c",
                               "ProductDescription.1": "Linux/UNIX"})
        oldest = rows[-1]["Timestamp"].timestamp()
        self.assertAlmostEqual(oldest, NOW - 90 * 86400, delta=3600)
        self.assertEqual(len(parsed["SpotPriceHistory"]), 1000)

    def test_other_regions_have_their_own_zones(self):
        _, parsed = ask(region="eu-west-1", **{"InstanceType.1": "m5.large", "StartTime": str(NOW),
                                               "ProductDescription.1": "Linux/UNIX"})
        self.assertTrue(parsed["SpotPriceHistory"])
        self.assertTrue(all(r["AvailabilityZone"].startswith("eu-west-1") for r in parsed["SpotPriceHistory"]))

    def test_bad_input_is_refused_as_ec2_refuses_it(self):
        cases = [
            ({"MaxResults": "2"}, "InvalidParameterValue"),
            ({"MaxResults": "1001"}, "InvalidParameterValue"),
            ({"NextToken": "bm9wZQ=="}, "InvalidPaginationToken"),
            ({"InstanceType.1": "p9.huge"}, "InvalidParameterValue"),
            ({"StartTime": "yesterday"}, "InvalidParameterValue"),
            ({"StartTime": str(NOW - 60), "EndTime": str(NOW - 3600)}, "InvalidParameterValue"),
            ({"Filter.1.Name": "colour", "Filter.1.Value.1": "red"}, "InvalidParameterValue"),
        ]
        for params, code in cases:
            with self.subTest(params=params):
                status, body = prices.answer({k: [v] for k, v in params.items()}, "us-east-1", now=NOW)
                self.assertEqual(status, 400)
                parsed = botocore.parsers.EC2QueryParser().parse(
                    {"body": body, "headers": {}, "status_code": status}, OPERATION.output_shape)
                self.assertEqual(parsed["Error"]["Code"], code)

    def test_a_token_from_another_query_is_refused(self):
        _, first = ask(**{"InstanceType.1": "t3.micro", "MaxResults": "5"})
        status, _ = ask(**{"InstanceType.1": "m5.large", "MaxResults": "5", "NextToken": first["NextToken"]})
        self.assertEqual(status, 400)

    def test_the_gateway_hook_uses_the_gateways_clock(self):
        class Context:
            now = NOW
        status, body = prices.handle(Context(), {"InstanceType.1": ["m5.large"], "StartTime": [str(NOW)]}, "us-east-1")
        self.assertEqual(status, 200)
        self.assertIn(b"<spotPriceHistorySet><item>", body)
        self.assertEqual(prices.answer({"InstanceType.1": ["m5.large"], "StartTime": [str(NOW)]}, "us-east-1", now=NOW)[1]
                         .split(b"<spotPriceHistorySet>")[1], body.split(b"<spotPriceHistorySet>")[1])


if __name__ == "__main__":
    unittest.main()
