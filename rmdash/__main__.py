"""`python -m rmdash`: the command line (see rmdash.cli)."""

import sys

from rmdash.cli import main

sys.exit(main())
