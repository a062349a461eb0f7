"""`python -m workflowdev` is the `workflowdev` command."""

import sys

from workflowdev.cli import main

sys.exit(main())
