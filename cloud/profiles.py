"""Timing profiles of the twin: how long AWS takes for each state change.

`instant`: every delay is zero (unit-speed tests), but for the two-minute interruption notice.
`aws`: delays drawn uniformly from the ranges below (jitter), multiplied by the time
scale (`bin/local-cloud up --profile aws --time-scale 0.1` runs ten times faster).

The ranges, and where they come from:
- spot_evaluation, spot_fulfilment: a one-time Spot request goes pending-evaluation ->
  pending-fulfillment -> fulfilled ("Spot request status", EC2 User Guide: "If the
  request parameters are valid, ... the request goes to pending-evaluation ...
  pending-fulfillment ... fulfilled"). The guide gives no figure; requests in a zone
  with capacity are commonly fulfilled within a few seconds to ~10 s.
- pending (pending -> running): EC2 User Guide, "Instance lifecycle": an instance is
  `pending` while it is prepared for running; measured launch-to-running times for
  Linux AMIs on Nitro types are about 5-20 s (public benchmarks of EC2 boot times,
  e.g. the ones behind "How long does it take to launch an EC2 instance", cluster of
  values near 10 s).
- ssh: sshd answers once cloud-init has generated the host keys and started it,
  typically 5-20 s after `running` for Ubuntu AMIs (same measurements).
- attach / detach: AttachVolume's attachment is `attaching` then `attached`; a few
  seconds in practice (EBS User Guide, "Attach an Amazon EBS volume to an instance":
  the volume state moves to in-use/attached "after a few moments").
- modify_modifying / modify_optimizing: ModifyVolume goes modifying -> optimizing ->
  completed (EBS User Guide, "Monitor the progress of volume modifications": optimizing
  "can take a few minutes to a few hours"; compressed here to tens of seconds).
- consistency: EC2 API Reference, "Eventual consistency": a resource just created may
  be unknown to Describe calls for a short time (InvalidInstanceID.NotFound); about a
  second or two.
- interruption_notice: the Spot Instance interruption notice is "a warning that is
  issued two minutes before Amazon EC2 stops or terminates your Spot Instance"
  (EC2 User Guide, "Spot Instance interruption notices").
"""

import random

# name -> (low, high) seconds, before the time scale
AWS = {
    "spot_evaluation": (1.0, 3.0),
    "spot_fulfilment": (2.0, 6.0),
    "pending": (8.0, 20.0),
    "ssh": (5.0, 15.0),
    "attach": (1.0, 4.0),
    "detach": (2.0, 6.0),
    "modify_modifying": (3.0, 10.0),
    "modify_optimizing": (10.0, 30.0),
    "consistency": (0.5, 2.0),
    "interruption_notice": (120.0, 120.0),
}

# instant: every state change at once; the interruption notice stays two minutes (times
# the time scale): it is a promise AWS makes, not a delay of AWS's
PROFILES = {"instant": dict({name: (0.0, 0.0) for name in AWS},
                            interruption_notice=AWS["interruption_notice"]),
            "aws": AWS}


class Profile:
    def __init__(self, name="instant", time_scale=1.0, seed=None, ranges=None):
        """ranges: {delay name: (low, high)} replacing the profile's (tests)."""
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r} (known: {', '.join(sorted(PROFILES))})")
        if not time_scale > 0:
            raise ValueError(f"the time scale must be positive, not {time_scale}")
        self.name, self.time_scale = name, float(time_scale)
        self.ranges = dict(PROFILES[name], **(ranges or {}))
        self.random = random.Random(seed)

    def delay(self, what):
        """One draw of the delay `what`, in seconds, scaled."""
        low, high = self.ranges[what]
        return self.random.uniform(low, high) * self.time_scale

    def fixed(self, what):
        """The delay's upper bound, scaled (the interruption notice is not jittered)."""
        return self.ranges[what][1] * self.time_scale
