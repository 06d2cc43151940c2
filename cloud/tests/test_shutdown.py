"""A shutdown from inside a machine, as EC2 answers it: the instance stops or terminates
as its InstanceInitiatedShutdownBehavior says (a Spot Instance of a one-time request
always terminates), its volumes detach, its spot request closes with
instance-terminated-by-user. Real twin: bin/local-cloud up in a state directory of the
tests' own (real moto, gateway, namespaces, sshd).

Run: python3 -m unittest discover -s cloud/tests (as root; skipped otherwise).
"""

import os
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "cloud"))
import machines  # noqa: E402
import test_machines as tm  # noqa: E402  (not its classes by name: unittest would run them twice)
from harness import wait_until  # noqa: E402


@unittest.skipUnless(os.geteuid() == 0, "machines need root")
class ShutdownFromInside(unittest.TestCase):
    setUpClass = classmethod(tm.Machines.setUpClass.__func__)
    tearDownClass = classmethod(tm.Machines.tearDownClass.__func__)
    record, ready, ssh, terminate = tm.Machines.record, tm.Machines.ready, tm.Machines.ssh, tm.Machines.terminate

    def launch(self, **extra):
        r = self.ec2.run_instances(ImageId=self.env["PORTAL_LOCAL_IMAGE_ID"], MinCount=1, MaxCount=1,
                                   InstanceType="t3.micro", KeyName=self.env["PORTAL_LOCAL_KEY_PAIR"],
                                   Placement={"AvailabilityZone": self.env["PORTAL_LOCAL_ZONE"]}, **extra)
        iid = r["Instances"][0]["InstanceId"]
        self.addCleanup(self.terminate, iid)
        return iid, self.ready(iid)

    def instance(self, iid):
        return self.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]

    def states(self, iid, until, seconds=20):
        """The states DescribeInstances shows, polled until `until` is one of them."""
        seen = []

        def step():
            state = self.instance(iid)["State"]["Name"]
            if not seen or seen[-1] != state:
                seen.append(state)
            return state == until
        wait_until(seconds, step, f"{iid} {until} (seen {seen})")
        return seen

    def attach(self, iid, m):
        vid = self.ec2.create_volume(AvailabilityZone=self.env["PORTAL_LOCAL_ZONE"], Size=1)["VolumeId"]
        self.addCleanup(self.delete_volume, iid, vid)
        self.ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
        link = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{vid.replace('-', '')}"
        wait_until(10, lambda: self.ssh(m, f"test -b {link}", check=False).returncode == 0, "device")
        self.ssh(m, f"sudo -n mkfs.ext4 -q {link} && sudo -n mount {link} /mnt")
        return vid

    def delete_volume(self, iid, vid):
        self.terminate(iid)
        wait_until(20, lambda: self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available",
                   f"{vid} available")
        self.ec2.delete_volume(VolumeId=vid)

    def test_spot_instance_terminates_and_its_request_closes(self):
        # no shutdown behaviour given (moto's default: stop): a one-time Spot Instance terminates anyway
        iid, m = self.launch(InstanceMarketOptions={"MarketType": "spot",
                                                    "SpotOptions": {"SpotInstanceType": "one-time"}})
        vid = self.attach(iid, m)
        self.ssh(m, "sleep 600 </dev/null >/dev/null 2>&1 &")
        r = self.ssh(m, "/usr/sbin/shutdown -h now", check=False)
        self.assertNotEqual(r.returncode, 0)  # not root: refused, nothing happens
        self.assertIn("must be root", r.stderr)
        self.assertEqual(self.instance(iid)["State"]["Name"], "running")
        self.ssh(m, "sudo -n shutdown -h now", check=False)  # the connection may end first
        seen = self.states(iid, "terminated")
        self.assertNotIn("stopped", seen)
        item = self.instance(iid)
        self.assertEqual(item["StateReason"]["Code"], "Client.InstanceInitiatedShutdown")
        request = self.ec2.describe_spot_instance_requests(
            SpotInstanceRequestIds=[item["SpotInstanceRequestId"]])["SpotInstanceRequests"][0]
        self.assertEqual((request["State"], request["Status"]["Code"]), ("closed", "instance-terminated-by-user"))
        wait_until(10, lambda: self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available",
                   f"{vid} available")
        wait_until(10, lambda: (self.record(iid) or {}).get("state") == "gone", f"{iid}'s machine gone")
        self.assertEqual(machines.netns_pids(m["netns"]), [])
        self.assertFalse(os.path.exists(f"/run/netns/{m['netns']}"))

    def test_on_demand_instance_follows_its_shutdown_behaviour(self):
        stops, _ = self.launch(InstanceInitiatedShutdownBehavior="stop")
        ends, _ = self.launch(InstanceInitiatedShutdownBehavior="terminate")
        for iid, command in ((stops, "sudo -n poweroff"), (ends, "sudo -n shutdown now")):
            self.ssh(self.record(iid), command, check=False)
        self.states(stops, "stopped")
        self.states(ends, "terminated")
        for iid in (stops, ends):
            self.assertEqual(self.instance(iid)["StateReason"]["Code"], "Client.InstanceInitiatedShutdown")
            wait_until(10, lambda: (self.record(iid) or {}).get("state") == "gone", f"{iid}'s machine gone")

    def test_a_later_shutdown_waits_and_can_be_cancelled_and_halt_leaves_the_instance_running(self):
        iid, m = self.launch(InstanceInitiatedShutdownBehavior="terminate")
        out = self.ssh(m, "sudo -n shutdown -h +1 && sudo -n shutdown -c && echo cancelled").stdout
        self.assertIn("cancelled", out)
        # halt stops the operating system but not the instance, as on EC2
        def sshd_runs():
            names = [os.path.basename(machines.cmdline(pid).split(" ")[0]) for pid in machines.netns_pids(m["netns"])]
            return any(name.startswith("sshd") for name in names)
        self.assertTrue(sshd_runs())
        self.ssh(m, "sudo -n halt", check=False)
        wait_until(10, lambda: not sshd_runs(), "sshd ended")
        time.sleep(1)
        self.assertEqual(self.instance(iid)["State"]["Name"], "running")
        self.assertFalse(os.path.exists(os.path.join(self.state, "instances", iid, "shutdown.json")))


if __name__ == "__main__":
    unittest.main()
