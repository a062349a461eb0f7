"""`python -m workflowdev` is the `workflowdev` command."""

import sys

from workflowdev.cli.main import main

sys.exit(main())
