"""The machine manager against a real twin: bin/local-cloud up --machines in a state
directory of the tests' own, real moto, real namespaces, sshd, overlayfs, loop devices.

Run: python3 -m unittest discover -s cloud/tests (as root; skipped otherwise).
"""

import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "cloud"))
import machines  # noqa: E402
from harness import wait_until  # noqa: E402

LOCAL_CLOUD = os.path.join(REPO, "bin", "local-cloud")


class Names(unittest.TestCase):
    def test_names_fit_and_differ_per_state_dir(self):
        a, b = machines.Twin("/tmp/one"), machines.Twin("/tmp/two")
        self.assertNotEqual(a.hash, b.hash)
        self.assertNotEqual(a.netns(0), b.netns(0))
        for twin in (a, b):
            for name in (twin.veth(999), twin.peer(999)):
                self.assertLessEqual(len(name), 15, name)  # IFNAMSIZ
            self.assertTrue(twin.host_address.startswith("169.254."))
            self.assertFalse(twin.host_address.startswith("169.254.169."))

    def test_machine_json_address_avoids_host_routes(self):
        import threading
        twin = machines.Twin("/tmp/one")
        lock = threading.Lock()
        routed = next(n for n in machines.host_networks() if n.prefixlen > 0)
        taken = str(next(iter(routed.hosts())))
        got = machines.pick_address(twin, taken, 0, lock)
        self.assertNotEqual(got, taken)
        self.assertTrue(machines.ipaddress.ip_address(got) in twin.fallback_net)
        self.assertEqual(machines.pick_address(twin, "10.250.1.2", 0, lock), "10.250.1.2")
        # never a public or loopback address, even if moto gives one
        self.assertIn(machines.ipaddress.ip_address(machines.pick_address(twin, "54.214.1.2", 0, lock)),
                      twin.fallback_net)


@unittest.skipUnless(os.geteuid() == 0, "machines need root")
class Machines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="twin-machines-test.")
        cls.env = dict(os.environ, PORTAL_LOCAL_CLOUD_DIR=cls.state)
        r = subprocess.run([LOCAL_CLOUD, "up", "--machines"], env=cls.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"local-cloud up --machines: {r.stderr}")
        for line in r.stdout.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                cls.env[k] = shlex.split(v)[0] if v else ""
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            cls.env.pop(k, None)
        import boto3
        cls.ec2 = boto3.client("ec2", endpoint_url=cls.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        cls.twin = machines.Twin(cls.state)

    @classmethod
    def tearDownClass(cls):
        r = subprocess.run([LOCAL_CLOUD, "down"], env=cls.env, capture_output=True, text=True)
        left = machines.leftovers(cls.state)
        subprocess.run([LOCAL_CLOUD, "down", "--purge"], env=cls.env, capture_output=True)
        if r.returncode != 0 or left:
            raise AssertionError(f"down: exit {r.returncode} {r.stderr}; left behind: {left}")

    # -- helpers

    def launch(self):
        r = self.ec2.run_instances(ImageId=self.env["PORTAL_LOCAL_IMAGE_ID"], MinCount=1, MaxCount=1,
                                   InstanceType="t3.micro", KeyName=self.env["PORTAL_LOCAL_KEY_PAIR"],
                                   Placement={"AvailabilityZone": self.env["PORTAL_LOCAL_ZONE"]})
        iid = r["Instances"][0]["InstanceId"]
        self.addCleanup(self.terminate, iid)
        return iid, self.ready(iid)

    def delete_volume(self, vid):
        try:
            self.ec2.delete_volume(VolumeId=vid)
        except self.ec2.exceptions.ClientError as e:
            if "NotFound" not in str(e):
                raise

    def terminate(self, iid):
        try:
            self.ec2.terminate_instances(InstanceIds=[iid])
        except Exception:
            pass
        wait_until(20, lambda: (self.record(iid) or {}).get("state") == "gone", f"{iid} gone")

    def record(self, iid):
        return machines.read_json(os.path.join(self.state, "instances", iid, "machine.json"))

    def ready(self, iid):
        return wait_until(20, lambda: (lambda m: m if m and m.get("state") == "ready" else None)(self.record(iid)),
                          f"{iid} ready")

    def ssh(self, machine, command, check=True, key=None):
        known = os.path.join(self.state, f"known-{machine['instance_id']}")
        with open(known, "w") as f:
            for line in machine["host_keys"]:
                f.write(f"{machine['address']} {line}\n")
        r = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                            "-o", f"UserKnownHostsFile={known}", "-o", "IdentitiesOnly=yes",
                            "-o", "ConnectTimeout=5", "-i", key or self.env["PORTAL_LOCAL_SSH_KEY"],
                            f"ubuntu@{machine['address']}", command],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"ssh {command}: exit {r.returncode}: {r.stderr}")
        return r

    def imds(self, machine, method, path, headers=None, check=True):
        """curl on the machine: (status, body)."""
        h = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in (headers or {}).items())
        out = self.ssh(machine, f"curl -s -w '\\n%{{http_code}}' -X {method} {h} "
                                f"http://169.254.169.254{path}").stdout
        body, _, status = out.rpartition("\n")
        return int(status), body

    # -- tests

    def test_exports_are_what_a_spec_needs(self):
        self.assertEqual(self.env["PORTAL_LOCAL_USER"], "ubuntu")
        self.assertEqual(self.env["PORTAL_KNOWN_HOSTS"], os.path.join(os.path.realpath(self.state), "known_hosts"))
        self.assertEqual(oct(os.stat(self.env["PORTAL_LOCAL_SSH_KEY"]).st_mode & 0o777), "0o600")
        pairs = self.ec2.describe_key_pairs(KeyNames=[self.env["PORTAL_LOCAL_KEY_PAIR"]])["KeyPairs"]
        self.assertEqual(len(pairs), 1)
        self.assertEqual(len(self.ec2.describe_images(ImageIds=[self.env["PORTAL_LOCAL_IMAGE_ID"]])["Images"]), 1)
        self.assertEqual(self.env["PORTAL_LOCAL_MACHINES"], "1")

    def test_writes_on_the_instance_never_reach_the_host(self):
        iid, m = self.launch()
        name = f"portal-isolation-{os.getpid()}-{time.time_ns()}"
        self.ssh(m, f"sudo -n touch /etc/{name} && touch /tmp/{name} && echo x | sudo -n tee /root/{name}")
        self.assertEqual(self.ssh(m, f"ls /etc/{name} /tmp/{name}").returncode, 0)
        for path in (f"/etc/{name}", f"/tmp/{name}", f"/root/{name}"):
            self.assertFalse(os.path.exists(path), path)
        # the user, and passwordless sudo, exist only on the machine
        self.assertEqual(self.ssh(m, "id -un; sudo -n id -un").stdout.split(), ["ubuntu", "root"])
        with open("/etc/passwd") as f:
            self.assertNotIn("\nubuntu:x:1001:", "\n" + f.read())
        # the twin's own state directory (keys) is not visible from the machine
        self.assertEqual(self.ssh(m, f"ls -A {shlex.quote(os.path.realpath(self.state))}").stdout, "")

    def test_two_machines_at_once_with_their_own_host_keys_and_addresses(self):
        (a_id, a), (b_id, b) = self.launch(), self.launch()
        self.assertNotEqual(a["address"], b["address"])
        self.assertNotEqual(a["host_keys"], b["host_keys"])
        self.assertEqual(self.ssh(a, "hostname").stdout.strip(), "ip-" + a["address"].replace(".", "-"))
        self.assertEqual(self.ssh(b, "hostname").stdout.strip(), "ip-" + b["address"].replace(".", "-"))
        # what sshd presents is what machine.json says (ssh checked it strictly above),
        # and the other machine's keys are refused
        wrong = dict(a, host_keys=b["host_keys"])
        r = self.ssh(wrong, "true", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Host key verification failed", r.stderr)
        # each has its own processes
        self.ssh(a, "sleep 300 </dev/null >/dev/null 2>&1 &")
        self.assertIn("sleep 300", self.ssh(a, "ps ax").stdout)
        self.assertNotIn("sleep 300", self.ssh(b, "ps ax").stdout)
        self.assertEqual(len(machines.netns_pids(a["netns"])) > 0, True)

    def test_fingerprints_are_those_of_the_host_keys(self):
        _, m = self.launch()
        for key, fp in zip(m["host_keys"], m["fingerprints"]):
            r = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=key, capture_output=True, text=True)
            self.assertEqual(r.stdout.strip(), fp)

    def test_imds_v2_token_rules_and_paths(self):
        iid, m = self.launch()
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/instance-id")[0], 401)
        self.assertEqual(self.imds(m, "PUT", "/latest/api/token")[0], 400)
        self.assertEqual(self.imds(m, "PUT", "/latest/api/token",
                                   {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0], 400)
        self.assertEqual(self.imds(m, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                                                    "X-Forwarded-For": "1.2.3.4"})[0], 403)
        status, token = self.imds(m, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        self.assertEqual(status, 200)
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/instance-id",
                                   {"X-aws-ec2-metadata-token": "not-a-token"})[0], 401)
        t = {"X-aws-ec2-metadata-token": token}
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/instance-id", t), (200, iid))
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/local-ipv4", t), (200, m["address"]))
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/placement/availability-zone", t),
                         (200, self.env["PORTAL_LOCAL_ZONE"]))
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/instance-type", t), (200, "t3.micro"))
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/instance-life-cycle", t), (200, "on-demand"))
        with open(self.env["PORTAL_LOCAL_SSH_KEY"] + ".pub") as f:
            self.assertEqual(self.imds(m, "GET", "/latest/meta-data/public-keys/0/openssh-key", t)[1].split()[:2],
                             f.read().split()[:2])
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/spot/instance-action", t)[0], 404)
        self.assertEqual(self.imds(m, "GET", "/latest/meta-data/events/recommendations/rebalance", t)[0], 404)
        folder = os.path.join(self.state, "instances", iid)
        machines.write_atomic(os.path.join(folder, "interrupt.json"), json.dumps(
            {"action": "terminate", "time": "2026-12-01T22:00:00Z", "terminate_at": time.time() + 120}))
        machines.write_atomic(os.path.join(folder, "rebalance.json"), json.dumps({"noticeTime": "2026-12-01T21:58:00Z"}))
        status, body = self.imds(m, "GET", "/latest/meta-data/spot/instance-action", t)
        self.assertEqual((status, json.loads(body)), (200, {"action": "terminate", "time": "2026-12-01T22:00:00Z"}))
        status, body = self.imds(m, "GET", "/latest/meta-data/events/recommendations/rebalance", t)
        self.assertEqual((status, json.loads(body)), (200, {"noticeTime": "2026-12-01T21:58:00Z"}))
        # not reachable from the host: 169.254.169.254 exists only inside the machine
        with self.assertRaises(OSError):
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                "http://169.254.169.254/latest/meta-data/", timeout=1)

    def test_volumes_appear_inside_their_machine_only_and_keep_their_data(self):
        (a_id, a), (b_id, b) = self.launch(), self.launch()
        vid = self.ec2.create_volume(Size=1, AvailabilityZone=self.env["PORTAL_LOCAL_ZONE"])["VolumeId"]
        self.addCleanup(self.delete_volume, vid)
        link = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{vid.replace('-', '')}"
        self.ec2.attach_volume(VolumeId=vid, InstanceId=a_id, Device="/dev/xvdf")
        wait_until(10, lambda: self.ssh(a, f"test -b {link}", check=False).returncode == 0, "device on a")
        self.assertEqual(self.ssh(a, f"readlink {link}").stdout.strip(), "../../nvme1n1")
        self.assertFalse(os.path.lexists(link))
        self.assertNotEqual(self.ssh(b, f"test -e {link}", check=False).returncode, 0)
        self.ssh(a, f"sudo -n mkfs.ext4 -q {link} && sudo -n mkdir -p /data && sudo -n mount {link} /data && "
                    "echo kept | sudo -n tee /data/f >/dev/null")
        loop = wait_until(5, lambda: (machines.read_json(self.twin.record) or {}).get(vid, {}).get("loop"), "record")
        self.ec2.detach_volume(VolumeId=vid, InstanceId=a_id)
        wait_until(10, lambda: self.ssh(a, f"test -e {link}", check=False).returncode != 0, "device gone from a")
        self.assertNotIn("/data", self.ssh(a, "findmnt -rno TARGET").stdout.split())
        wait_until(10, lambda: loop not in machines.our_loops(self.twin), "loop released")
        self.ec2.attach_volume(VolumeId=vid, InstanceId=b_id, Device="/dev/xvdg")
        wait_until(10, lambda: self.ssh(b, f"test -b {link}", check=False).returncode == 0, "device on b")
        self.assertEqual(self.ssh(b, f"sudo -n mount {link} /mnt && cat /mnt/f").stdout, "kept\n")
        self.ec2.detach_volume(VolumeId=vid, InstanceId=b_id)
        wait_until(10, lambda: vid not in (machines.read_json(self.twin.record) or {}), "released from b")
        # portal volume delete: the data goes with the volume
        image = self.twin.image(vid)
        self.assertTrue(os.path.exists(image))
        self.ec2.delete_volume(VolumeId=vid)
        wait_until(10, lambda: not os.path.exists(image), f"{image} removed after DeleteVolume")

    def test_termination_ends_processes_mounts_namespace_and_layer(self):
        iid, m = self.launch()
        vid = self.ec2.create_volume(Size=1, AvailabilityZone=self.env["PORTAL_LOCAL_ZONE"])["VolumeId"]
        self.ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/xvdf")
        link = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{vid.replace('-', '')}"
        wait_until(10, lambda: self.ssh(m, f"test -b {link}", check=False).returncode == 0, "device")
        self.ssh(m, f"sudo -n mkfs.ext4 -q {link} && sudo -n mount {link} /mnt && "
                    "(sleep 600 </dev/null >/dev/null 2>&1 &) ; cd /mnt; sleep 600 </dev/null >/dev/null 2>&1 &")
        pids = machines.netns_pids(m["netns"])
        self.assertTrue(pids)
        upper = os.path.join(self.state, "instances", iid, "upper")
        self.assertTrue(os.path.isdir(upper))
        t0 = time.monotonic()
        self.ec2.terminate_instances(InstanceIds=[iid])
        wait_until(20, lambda: (self.record(iid) or {}).get("state") == "gone", "gone")
        print(f"\n    terminated: machine gone {time.monotonic() - t0:.2f} s after TerminateInstances",
              file=sys.stderr)
        for pid in pids:
            self.assertFalse(machines.alive(pid), f"process {pid} still runs")
        self.assertNotIn(m["netns"], self.twin.our_netns())
        self.assertFalse(os.path.exists(upper))
        wait_until(10, lambda: vid not in machines.our_loops(self.twin).values(), "loop released")
        self.assertFalse(os.path.exists(f"/sys/class/net/{self.twin.veth(m['slot'])}"))
        self.ec2.delete_volume(VolumeId=vid)

    def test_ssh_delay_of_the_timeline_is_kept(self):
        # the gateway writes timeline.json at RunInstances; here the test does, at once
        r = self.ec2.run_instances(ImageId=self.env["PORTAL_LOCAL_IMAGE_ID"], MinCount=1, MaxCount=1,
                                   KeyName=self.env["PORTAL_LOCAL_KEY_PAIR"])
        iid = r["Instances"][0]["InstanceId"]
        self.addCleanup(self.terminate, iid)
        folder = os.path.join(self.state, "instances", iid)
        os.makedirs(folder, exist_ok=True)
        start = time.time()
        machines.write_atomic(os.path.join(folder, "timeline.json"), json.dumps(
            {"launched_at": start, "running_at": start + 0.5, "ssh_delay": 1.0}))
        m = self.ready(iid)
        self.assertGreaterEqual(m["ssh_ready_at"], start + 1.5)


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(os.geteuid() == 0, "machines need root")
class DownAndUp(unittest.TestCase):
    def test_down_says_what_it_keeps_and_the_twin_never_writes_the_users_home(self):
        state = tempfile.mkdtemp(prefix="twin-machines-down-up.")
        home = tempfile.mkdtemp(prefix="twin-home.")
        self.addCleanup(shutil.rmtree, home, True)
        env = dict(os.environ, PORTAL_LOCAL_CLOUD_DIR=state, HOME=home)
        self.addCleanup(subprocess.run, [LOCAL_CLOUD, "down", "--purge"], env=env, capture_output=True)

        def up():
            r = subprocess.run([LOCAL_CLOUD, "up"], env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            exports = dict(line[len("export "):].split("=", 1) for line in r.stdout.splitlines()
                           if line.startswith("export "))
            for name in ("PORTAL_KNOWN_HOSTS", "PORTAL_LOCAL_SSH_KEY"):
                self.assertTrue(shlex.split(exports[name])[0].startswith(os.path.realpath(state) + "/"), name)
            import boto3
            return exports, boto3.client("ec2", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                         aws_access_key_id="testing", aws_secret_access_key="testing")

        exports, ec2 = up()
        iid = ec2.run_instances(ImageId=exports["PORTAL_LOCAL_IMAGE_ID"], MinCount=1, MaxCount=1,
                                KeyName=exports["PORTAL_LOCAL_KEY_PAIR"])["Instances"][0]["InstanceId"]
        path = os.path.join(state, "instances", iid, "machine.json")
        wait_until(20, lambda: (machines.read_json(path) or {}).get("state") == "ready", "machine ready")
        wait_until(10, lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
                   ["State"]["Name"] == "running", "running")
        vid = ec2.create_volume(Size=1, AvailabilityZone=exports["PORTAL_LOCAL_ZONE"], TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "kept?"}]}])["VolumeId"]
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/xvdf")
        image = machines.Twin(state).image(vid)
        wait_until(10, lambda: os.path.exists(image), "the volume's data file")
        self.assertTrue(ec2.get_console_output(InstanceId=iid).get("Output"))

        r = subprocess.run([LOCAL_CLOUD, "down"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        # what down claims: EC2's state is not kept; the data files stay, used by no volume
        self.assertIn("is NOT kept: the next up starts an empty EC2", r.stderr)
        self.assertIn("1 volume data file(s) kept", r.stderr)
        self.assertIn("no volume of the next EC2 uses them", r.stderr)
        self.assertTrue(os.path.exists(image))
        # and it is true
        exports, ec2 = up()
        self.assertEqual(ec2.describe_volumes()["Volumes"], [])
        self.assertEqual(ec2.describe_instances()["Reservations"], [])
        r = subprocess.run([LOCAL_CLOUD, "down"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        # nothing in the user's home: no ~/.ssh/known_hosts, ~/.aws, ~/.portal-gun
        self.assertEqual(sorted(os.listdir(home)), [])


@unittest.skipUnless(os.geteuid() == 0, "machines need root")
class AfterACrash(unittest.TestCase):
    def test_up_after_a_crash_removes_what_the_crashed_twin_left(self):
        state = tempfile.mkdtemp(prefix="twin-machines-crash.")
        env = dict(os.environ, PORTAL_LOCAL_CLOUD_DIR=state)
        self.addCleanup(subprocess.run, [LOCAL_CLOUD, "down", "--purge"], env=env, capture_output=True)
        r = subprocess.run([LOCAL_CLOUD, "up", "--machines"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        exports = dict(line[len("export "):].split("=", 1) for line in r.stdout.splitlines()
                       if line.startswith("export "))
        import boto3
        ec2 = boto3.client("ec2", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iid = ec2.run_instances(ImageId=exports["PORTAL_LOCAL_IMAGE_ID"], MinCount=1, MaxCount=1,
                                KeyName="portal-local")["Instances"][0]["InstanceId"]
        path = os.path.join(state, "instances", iid, "machine.json")
        m = wait_until(20, lambda: (lambda x: x if x and x.get("state") == "ready" else None)(machines.read_json(path)),
                       "machine ready")
        # the crash: every process of the twin killed at once, nothing cleaned up
        for name in ("machines", "gateway", "sshd", "moto"):
            with open(os.path.join(state, f"{name}.pid")) as f:
                os.kill(int(f.read().split()[0]), 9)
        self.assertTrue(machines.leftovers(state))
        self.assertTrue(machines.alive(m["pid"]))
        r = subprocess.run([LOCAL_CLOUD, "up", "--machines"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(machines.alive(m["pid"]), "the crashed twin's machine still runs")
        self.assertNotIn(m["netns"], machines.Twin(state).our_netns())
        r = subprocess.run([LOCAL_CLOUD, "down"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(machines.leftovers(state), [])
