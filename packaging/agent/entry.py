"""Entry point of the single-file agent: `safeguard-agent watchdog` supervises `safeguard-agent run`."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "watchdog":
    from agent.watchdog import main

    sys.exit(main(sys.argv[2:]))

from agent.__main__ import main

sys.exit(main())
