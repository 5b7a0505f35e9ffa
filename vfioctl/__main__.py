from vfioctl.cli.entry import main

# main(), not run(): runpy users (tests/vm/guest_runner.py runs "python -m
# vfioctl" in-process) get SystemExit back; the console script uses run()
raise SystemExit(main())
