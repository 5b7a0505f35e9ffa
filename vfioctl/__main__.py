from vfioctl.cli.entry import main

raise SystemExit(main())
