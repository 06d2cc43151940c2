"""cloud/snapshots.py behind the gateway, in front of a real moto: snapshots keep the
volume's data, are pending with progress for the profile's delay, and a volume made
from one starts with that data; AWS's price history through the gateway."""

import os
import time

import harness
from botocore.exceptions import ClientError
from profiles import Profile


class Snapshots(harness.GatewayCase):
    PROFILE = Profile("aws", 1.0, ranges={"snapshot": (1.5, 1.5), "consistency": (0.0, 0.0),
                                          "attach": (0.0, 0.0), "detach": (0.0, 0.0)})

    def image_of(self, volume):
        return os.path.join(self.state, "volumes", f"{volume}.img")

    def test_snapshot_progress_then_a_volume_with_its_data(self):
        vol = self.ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
        os.makedirs(os.path.join(self.state, "volumes"), exist_ok=True)
        data = os.urandom(4096)
        with open(self.image_of(vol), "wb") as f:
            f.truncate(1 << 30)
            f.seek(12345)
            f.write(data)
        snap = self.ec2.create_snapshot(VolumeId=vol)
        self.assertEqual(snap["State"], "pending")
        self.assertEqual(snap["Progress"], "0%")
        # the data is the volume's at that moment: a later write is not in the snapshot
        with open(self.image_of(vol), "r+b") as f:
            f.seek(12345)
            f.write(b"\0" * 4096)
        with self.assertRaises(ClientError) as refused:
            self.ec2.create_volume(SnapshotId=snap["SnapshotId"], AvailabilityZone="us-east-1b")
        self.assertEqual(refused.exception.response["Error"]["Code"], "IncorrectState")
        seen = []
        deadline = time.time() + 10
        while time.time() < deadline:
            [s] = self.ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"]
            if not seen or seen[-1] != (s["State"], s["Progress"]):
                seen.append((s["State"], s["Progress"]))
            if s["State"] == "completed":
                break
            time.sleep(0.1)
        self.assertEqual(seen[-1], ("completed", "100%"))
        self.assertGreaterEqual(len(seen), 3, f"pending with growing progress first: {seen}")
        percents = [int(p.rstrip("%")) for _, p in seen]
        self.assertEqual(percents, sorted(percents))
        pending = self.ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]],
                                              Filters=[{"Name": "status", "Values": ["pending"]}])
        self.assertEqual(pending["Snapshots"], [])

        copy = self.ec2.create_volume(SnapshotId=snap["SnapshotId"], AvailabilityZone="us-east-1b",
                                      Size=2)["VolumeId"]
        self.assertEqual(os.path.getsize(self.image_of(copy)), 2 << 30)
        with open(self.image_of(copy), "rb") as f:
            f.seek(12345)
            self.assertEqual(f.read(4096), data)

        self.ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
        self.assertFalse(os.path.exists(os.path.join(self.state, "snapshots", f"{snap['SnapshotId']}.img")))

    def test_a_snapshot_of_a_volume_without_data_is_still_made(self):
        vol = self.ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
        snap = self.ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        time.sleep(1.6)
        [s] = self.ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"]
        self.assertEqual(s["State"], "completed")
        copy = self.ec2.create_volume(SnapshotId=snap, AvailabilityZone="us-east-1c")
        self.assertEqual(copy["Size"], 1)


class Prices(harness.GatewayCase):
    def test_the_gateway_serves_the_price_history_of_every_zone(self):
        now = time.time()
        answer = self.ec2.describe_spot_price_history(InstanceTypes=["p3.2xlarge"], StartTime=now,
                                                      ProductDescriptions=["Linux/UNIX"])
        zones = {p["AvailabilityZone"] for p in answer["SpotPriceHistory"]}
        self.assertGreaterEqual(len(zones), 3)
        self.assertGreater(len({p["SpotPrice"] for p in answer["SpotPriceHistory"]}), 1)
        other = self.ec2.describe_spot_price_history(InstanceTypes=["p3.2xlarge"], StartTime=now)
        self.assertGreater(len(other["SpotPriceHistory"]), len(answer["SpotPriceHistory"]),
                           "every product when none is named")
