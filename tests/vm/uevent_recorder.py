"""Record raw kernel uevents (pyudev, kernel netlink: no udevd needed) as JSON lines.

The reference the live ``vfioctl watch`` is checked against in the guest
(tests/vm/uevent_guest.sh).  Subsystems: pci, vfio, vfio-dev; runs until killed.
"""

import json
import sys

import pyudev

ctx = pyudev.Context()
mon = pyudev.Monitor.from_netlink(ctx, source="kernel")
for s in ("pci", "vfio", "vfio-dev"):
    mon.filter_by(s)
mon.start()
while True:
    dev = mon.poll()      # None when libudev dropped a message its filter rejects: not the end
    if dev is None:
        continue
    print(json.dumps({"seqnum": int(dev.get("SEQNUM", 0)), "action": dev.action,
                      "subsystem": dev.subsystem, "sys_name": dev.sys_name,
                      "driver": dev.get("DRIVER")}), flush=True)
