from vfioctl.cli.entry import run

run()
