"""`python -m metaledger.api.cli`: the same as the `metaledger` command."""

import sys

from metaledger.api.cli.main import main

sys.exit(main())
