"""`python -m workflowdev.cli`: the same command as `workflowdev`."""

import sys

from workflowdev.cli.main import main

sys.exit(main())
