"""vfioctl: inspect VFIO devices, predict PCI reset scopes, and hot-reset them.

Layers (dependencies point inward):
  model/    pure data and rules (no I/O)
  sysfs/    the only code that builds paths; reads a host (or fixture) root
  kernel/   backends: the only code that opens VFIO nodes / issues ioctls
  ops/      operations (inspect, plan, check, hot-reset) taking a backend
  present/  renderers (table, plain text, JSON)
  cli/      thin typer commands
"""

__version__ = "0.1.0"

#: Version of the JSON documents printed with --json (see vfioctl-json(5)).
JSON_SCHEMA = "vfioctl/1"
